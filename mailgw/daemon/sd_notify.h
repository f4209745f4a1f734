/* telemail-mailgw — readiness for systemd (Type=notify), without libsystemd.
 *
 * The promise: gw_sd_notify() sends one datagram with its text ("READY=1",
 * "RELOADING=1", "STOPPING=1", "STATUS=…") to the socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name when it starts with '@'), as
 * sd_notify(3) does. Without $NOTIFY_SOCKET (not started by systemd) it does
 * nothing. It never blocks and never prints; it returns 0 when the datagram
 * was sent or there is no socket, -1 when sending failed (the daemon runs on:
 * readiness is a courtesy to the service manager, not a condition to work). */
#ifndef GW_DAEMON_SD_NOTIFY_H
#define GW_DAEMON_SD_NOTIFY_H

int gw_sd_notify(const char *state);

#endif
