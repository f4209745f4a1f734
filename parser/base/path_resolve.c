/* telemail — a name made absolute against a base directory (telemail/path.h). */
#include <string.h>

#include <telemail/path.h>

char *tm_path_resolve(const char *base, const char *name)
{
	if (name[0] == '/' || base == NULL || base[0] == '\0')
		return strdup(name);
	return tm_path_join(base, name);
}
