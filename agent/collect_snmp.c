/* telemail-agent — the `snmp` collector.
 * Not implemented yet: configuration is parsed and checked (v2c / v3
 * authPriv), collection fails cleanly with collect.snmp. */
#include <telemail/error.h>
#include <telemail/report.h>

#include "collect.h"
#include "config.h"

int ag_collect_snmp(const struct ag_collector_config *k, struct tm_report **out,
		    struct tm_error *err)
{
	*out = NULL;
	return tm_error_set(err, "collect.snmp", "%s:%d: the SNMP collector is not built in this version",
			    k->host ? k->host : "?", k->port);
}
