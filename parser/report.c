/* placeholder: being written */
typedef int tm_placeholder_report;
