/* telemail-agent — Printer-MIB / Host Resources MIB names for the values
 * the snmp collector reads (RFC 3805 textual conventions, RFC 2790), and
 * OCTET STRING → text. No net-snmp types here. */
#ifndef AG_SNMP_MIB_H
#define AG_SNMP_MIB_H

#include <stddef.h>
#include <stdint.h>

/* Each returns the report's name for a MIB value, NULL when the value has
 * no name the report schema accepts. */
const char *ag_mib_printer_status(long v);   /* hrPrinterStatus */
const char *ag_mib_error_bit(size_t bit);     /* hrPrinterDetectedErrorState, bit 0 = MSB */
const char *ag_mib_supply_type(long v);      /* PrtMarkerSuppliesTypeTC */
const char *ag_mib_supply_unit(long v);      /* PrtMarkerSuppliesSupplyUnitTC */
const char *ag_mib_alert_group(long v);      /* PrtAlertGroupTC */
const char *ag_mib_alert_severity(long v);   /* prtAlertSeverityLevel → critical | warning | info */
/* PrtAlertCodeTC: its name when it fits the report's code pattern, else the number. */
void ag_mib_alert_code(long v, char out[24]);

#define AG_MIB_ERROR_BITS 15

#endif
