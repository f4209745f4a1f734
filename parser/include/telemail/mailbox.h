/* telemail — the syntax of a mailbox both programs are configured with.
 *
 * tm_mailbox_ok is the one rule for an address written in a configuration
 * (the agent's identity and gateway mailboxes and envelope sender, the
 * gateway's mailboxes, the notification sender and recipients). It promises
 * to accept exactly the RFC 5321 forward-path a relay takes without quoting,
 * in 7-bit ASCII (no SMTPUTF8):
 *   - local@domain, one '@', at most 254 octets in all;
 *   - the local part a dot-atom of 1 to 64 octets: letters, digits and
 *     ! # $ % & ' * + - / = ? ^ _ ` { | } ~, dots only between them
 *     (no quoted local part);
 *   - the domain either labels of letters, digits and '-' (1 to 63 octets,
 *     no '-' at either end) joined by single dots, or an address literal
 *     of letters, digits, '.', ':' and '-' in brackets ("[192.0.2.1]",
 *     "[IPv6:2001:db8::1]").
 * It says nothing about whether the mailbox exists. */
#ifndef TELEMAIL_MAILBOX_H
#define TELEMAIL_MAILBOX_H

#include <stdbool.h>

/* Is s (NUL-terminated; NULL is not) a mailbox by the rule above? */
bool tm_mailbox_ok(const char *s);

#endif
