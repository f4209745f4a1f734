/* telemail — the one mailbox rule (telemail/mailbox.h). */
#include <string.h>

#include <telemail/mailbox.h>

static bool atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool let_dig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool local_ok(const unsigned char *p, size_t n)
{
	if (n == 0 || n > 64 || p[0] == '.' || p[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '.' ? p[i + 1] == '.' : !atext(p[i]))
			return false;
	return true;
}

static bool domain_ok(const unsigned char *p, size_t n)
{
	if (n >= 2 && p[0] == '[') {
		if (p[n - 1] != ']' || n == 2)
			return false;
		for (size_t i = 1; i + 1 < n; i++)
			if (!let_dig(p[i]) && p[i] != '.' && p[i] != ':' && p[i] != '-')
				return false;
		return true;
	}
	size_t label = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || p[i] == '.') {
			if (label == 0 || label > 63 || p[i - 1] == '-')
				return false;
			label = 0;
		} else if (let_dig(p[i]) || (p[i] == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

bool tm_mailbox_ok(const char *s)
{
	if (s == NULL)
		return false;
	size_t n = strnlen(s, 255);
	const char *at = strchr(s, '@');
	if (n > 254 || at == NULL)
		return false;
	size_t local = (size_t)(at - s);
	return local_ok((const unsigned char *)s, local) &&
	       domain_ok((const unsigned char *)at + 1, n - local - 1);
}
