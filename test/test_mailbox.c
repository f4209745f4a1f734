/* telemail/mailbox.h: the one mailbox rule that replaced three copies (the
 * agent's configuration, the gateway's mailboxes, the notification
 * addresses). The table says, for each case where the copies disagreed or
 * were unsound, what each copy said and what the one rule says. */
#include <stdbool.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/mailbox.h>

struct mb_case {
	char addr[300];
	bool ok;                 /* the one rule */
	/* the old copies: agent/config.c, mailgw/config/config.c (gateway.mailboxes),
	 * mailgw/config/config_service.c (notify.email); 'x' where they disagreed */
	char old[8];
	char why[64];
};

#define L64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D63 "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

ParameterizedTestParameters(mailbox, rule)
{
	static struct mb_case cases[] = {
		/* what every configuration and test uses */
		{ "xk100001@devices.example", true, "yyy", "plain" },
		{ "a@b", true, "yyy", "a one-label domain (a closed network)" },
		{ "first.last+tag@sub-1.example", true, "yyy", "dots, plus, hyphen" },
		{ "o'hara!x#y$z%&*/=?^_`{|}~@x", true, "yyy", "every atext special" },
		{ "gw@[192.0.2.1]", true, "yyy", "an address literal" },
		{ "gw@[IPv6:2001:db8::1]", true, "yyy", "an IPv6 literal" },
		{ L64 "@x", true, "yyy", "a 64-octet local part" },
		/* where the copies disagreed */
		{ "a\"b@x", false, "nyn", "a quote: the gateway took it, agent and notify did not" },
		{ L64 "@" D63 "." D63 "." D63, false, "ynn",
		  "256 octets: only the agent had no cap" },
		{ "caf\xc3\xa9@x", false, "?n?",
		  "8-bit: agent and notify took it where char is unsigned" },
		/* what every copy took and no relay would */
		{ "a..b@x", false, "yyy", "two dots" },
		{ ".a@x", false, "yyy", "a leading dot" },
		{ "a.@x", false, "yyy", "a trailing dot" },
		{ L64 "a@x", false, "yyy", "a 65-octet local part" },
		{ "a(b)@x", false, "yyy", "a comment" },
		{ "a;b@x", false, "yyy", "a semicolon" },
		{ "a\\b@x", false, "yyy", "a backslash" },
		{ "a:b@x", false, "yyy", "a colon" },
		{ "a@x..y", false, "yyy", "an empty label" },
		{ "a@x.", false, "yyy", "a trailing dot in the domain" },
		{ "a@-x", false, "yyy", "a label starting with '-'" },
		{ "a@x-", false, "yyy", "a label ending with '-'" },
		{ "a@x_y", false, "yyy", "an underscore in the domain" },
		{ "a@" D63 "d", false, "yyy", "a 64-octet label" },
		{ "a@[]", false, "yyy", "an empty literal" },
		{ "a@[1.2.3.4", false, "yyy", "an unclosed literal" },
		{ "a@[1 2]", false, "nnn", "a space in a literal" },
		/* what every copy refused */
		{ "", false, "nnn", "empty" },
		{ "nobody", false, "nnn", "no '@'" },
		{ "@x", false, "nnn", "no local part" },
		{ "a@", false, "nnn", "no domain" },
		{ "a@b@c", false, "nnn", "two '@'" },
		{ "a b@x", false, "nnn", "a space" },
		{ "<a@x>", false, "nnn", "angle brackets" },
		{ "a@x,b@y", false, "nnn", "a list" },
		{ "a\x7f@x", false, "nnn", "DEL" },
		{ "a\t@x", false, "nnn", "a control" },
	};
	return cr_make_param_array(struct mb_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct mb_case *c, mailbox, rule)
{
	cr_assert_eq(tm_mailbox_ok(c->addr), c->ok, "'%s' (%s): want %s", c->addr, c->why,
		     c->ok ? "accepted" : "refused");
}

Test(mailbox, null_is_not_a_mailbox)
{
	cr_assert(!tm_mailbox_ok(NULL));
}

/* 254 octets is the most a forward-path holds (256 with the brackets). */
Test(mailbox, length_limit)
{
	char a[300];
	memset(a, 'a', sizeof(a));
	memcpy(a + 0, "x@", 2);
	for (size_t i = 2 + 63; i < 254; i += 64)
		a[i] = '.';
	a[254] = '\0';
	cr_assert(tm_mailbox_ok(a), "%zu octets", strlen(a));
	a[254] = 'a';
	a[255] = '\0';
	cr_assert(!tm_mailbox_ok(a));
}
