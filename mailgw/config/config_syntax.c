/* telemail-mailgw — a YAML error as config.syntax (see config.h), for the
 * configuration file and the files it names (the meter models file). A file
 * of its own so that both readers sit above it. */
#include <stdio.h>

#include <telemail/error.h>

#include "config/config.h"

int gw_config_syntax_error(const char *file, const struct tm_error *yaml_err,
			   struct tm_error *err)
{
	unsigned line, col;
	int used = 0;
	if (sscanf(yaml_err->msg, "line %u, column %u: %n", &line, &col, &used) == 2 && used > 0)
		return tm_error_set(err, "config.syntax", "%s:%u: column %u: %s", file, line, col,
				    yaml_err->msg + used);
	return tm_error_set(err, "config.syntax", "%s: %s", file, yaml_err->msg);
}
