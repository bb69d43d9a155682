/*
 * keel/netadm.h - netd's administration protocol: the configuration a
 * console commits (two-phase, so a commit is all or nothing across
 * servers), what netd knows for the console's `show` commands, and ping.
 *
 * Who: one client C named by a "client:C" note of netd's (manifest
 * `connect netd`) that also shares region "admin-C" with netd (both sides
 * `share admin-C NETADM_SHM_PAGES`).  Calls from any other badge are
 * refused with NETADM_E_NOT_ADMIN.  Served on netd's endpoint
 * (serve:netd) beside the socket service (abi/keel/socket.h), whose labels
 * are below NETADM_LABEL_BASE.  netd never calls its admin client: calls
 * flow consoled -> netd only.
 *
 * The region (NETADM_SHM_PAGES pages, mapped read-write by both):
 *   [NETADM_IN_OFF,  + NETADM_IN_MAX)   written by the client: the text of
 *                                       a configuration (appliance.conf)
 *   [NETADM_OUT_OFF, + NETADM_OUT_MAX)  written by netd: an error message
 *                                       or a `show` table
 * netd copies what it reads before it parses it, so a client changing the
 * text during a call harms only its own request; netd never trusts a
 * length without checking it against the area.
 *
 * Calls (label = SRV_LABEL(NETADM_*, words)); reply label 0 or NETADM_E_*:
 *
 *   NETADM_PREPARE (MR0 = length of the text at NETADM_IN_OFF)
 *       Parses the text as appliance.conf (the firewall's rules, the
 *       interface names they use) into netd's spare rule set.  The running
 *       set is untouched.  Bytes no configuration has (control characters
 *       but tab and line ends, bytes above 0x7e) are refused as a parse
 *       error at their line and column.  -> 0; or NETADM_E_PARSE with MR0 = line,
 *       MR1 = column, MR2 = message length at NETADM_OUT_OFF
 *       ("candidate:LINE:COL: expected ..."); NETADM_E_INVAL for a length
 *       beyond NETADM_IN_MAX.  A second PREPARE replaces the first.
 *   NETADM_COMMIT ()
 *       Makes the prepared set the running one (kept states stay).
 *       -> 0 with MR0 = rules in force, MR1 = the set's generation; or
 *       NETADM_E_NOT_PREPARED (nothing prepared, aborted, or a reload
 *       came between).
 *   NETADM_ABORT ()
 *       Forgets a prepared set. -> 0.
 *   NETADM_SHOW (MR0 = NETADM_SHOW_*)
 *       -> 0, MR0 = length of a table at NETADM_OUT_OFF: one row per line,
 *       fields separated by '\t', the first row the column names (the
 *       client aligns them).  Cut at a whole row when it would not fit
 *       (MR1 = 1 then).  NETADM_E_INVAL for an unknown table.
 *   NETADM_PING (MR0 = IPv4 address, host order; MR1 = count 1..NETADM_PING_MAX)
 *       Starts sending ICMP echo requests, one a second; one at a time per
 *       netd (a new PING ends the old one).  -> 0, or NETADM_E_INVAL.
 *   NETADM_PING_STATUS ()
 *       -> 0, MR0 = sent, MR1 = received, MR2 = 1 when done (every reply
 *       in or NETADM_PING_WAIT_S after the last request), MR3 = the
 *       smallest round trip in microseconds << 32 | the largest.
 *   NETADM_CLEAR ()
 *       Zeroes the counters `show interfaces` and `show firewall` print
 *       (netd's per-NIC counters, each rule's, the firewall's own); the
 *       drivers' counters and kept states stay.  -> 0.
 *   NETADM_TABLE (MR0 = NETADM_TABLE_*, MR1 = name length, MR2 = IPv4
 *       address (host order), MR3 = prefix length 0-32; the table's name,
 *       without <>, at NETADM_IN_OFF)
 *       Changes the running rule set's table at once, as pfctl -t NAME -T
 *       add|delete|flush|show (no commit; the next commit or reload sets the
 *       table to what the configuration says, as pfctl -f does).  ADD and
 *       DELETE -> 0; FLUSH -> 0, MR0 = addresses removed; SHOW -> 0, MR0 =
 *       length of the list at NETADM_OUT_OFF (one A.B.C.D/N per line, "!"
 *       before an exception), MR1 = 1 when cut.  NETADM_E_NO_TABLE (no table
 *       of that name), NETADM_E_EXISTS (ADD: already there), NETADM_E_NOT_FOUND
 *       (DELETE: not there), NETADM_E_FULL, NETADM_E_CONST (a `const` table),
 *       NETADM_E_INVAL (bad name length, prefix or op).
 */
#ifndef KEEL_ABI_NETADM_H
#define KEEL_ABI_NETADM_H

#include <keel/errors.h>

#include <stdint.h>

#define NETADM_SHM_PAGES   33
#define NETADM_IN_OFF      0u
#define NETADM_IN_MAX      65536u /* appliance/config/conf.h CONF_TEXT_MAX */
#define NETADM_OUT_OFF     65536u
#define NETADM_OUT_MAX     (NETADM_SHM_PAGES * 4096u - NETADM_OUT_OFF)
#define NETADM_PING_MAX    100u
#define NETADM_PING_WAIT_S 2u
#define NETADM_LABEL_BASE  0x100u

enum netadm_label {
    NETADM_PREPARE = NETADM_LABEL_BASE + 1,
    NETADM_COMMIT = NETADM_LABEL_BASE + 2,
    NETADM_ABORT = NETADM_LABEL_BASE + 3,
    NETADM_SHOW = NETADM_LABEL_BASE + 4,
    NETADM_PING = NETADM_LABEL_BASE + 5,
    NETADM_PING_STATUS = NETADM_LABEL_BASE + 6,
    NETADM_CLEAR = NETADM_LABEL_BASE + 7,
    NETADM_TABLE = NETADM_LABEL_BASE + 8,
};

enum netadm_show {
    NETADM_SHOW_INTERFACES = 1,
    NETADM_SHOW_ARP = 2,
    NETADM_SHOW_ROUTES = 3,
    NETADM_SHOW_CONNECTIONS = 4,
    NETADM_SHOW_FIREWALL = 5,
    NETADM_SHOW_STATES = 6,
    /* Counters for the metrics page (opsd): rows METRIC, LABELS, VALUE with
     * METRIC a Prometheus name (keel_interface_rx_bytes_total ...), LABELS
     * `name="value"` pairs joined by ',' or "-", VALUE a decimal integer. */
    NETADM_SHOW_COUNTERS = 7,
    /* Translation rules with their counters, then one line of the
     * translation table's counters. */
    NETADM_SHOW_NAT = 8,
};

enum netadm_error {
    NETADM_E_NOT_ADMIN = -700,    /* the caller has no admin region with netd */
    NETADM_E_INVAL = -701,        /* a length, table, address or count out of range */
    NETADM_E_PARSE = -702,        /* the configuration does not parse (line, column, message) */
    NETADM_E_NOT_PREPARED = -703, /* COMMIT without a prepared configuration */
    NETADM_E_NO_TABLE = -704,     /* TABLE: the running rule set has no table of that name */
    NETADM_E_EXISTS = -705,       /* TABLE ADD: the address is there already */
    NETADM_E_NOT_FOUND = -706,    /* TABLE DELETE: the address is not there */
    NETADM_E_FULL = -707,         /* TABLE ADD: the table is full */
    NETADM_E_CONST = -708,        /* TABLE: a `const` table cannot change at run time */
};
_Static_assert(KEEL_ERR_IN(NETADM, NETADM_E_NOT_ADMIN) && KEEL_ERR_IN(NETADM, NETADM_E_CONST),
               "NETADM_E_* in its range (keel/errors.h)");

/* NETADM_TABLE operations (MR0). */
enum netadm_table_op {
    NETADM_TABLE_ADD = 1,
    NETADM_TABLE_DELETE = 2,
    NETADM_TABLE_FLUSH = 3,
    NETADM_TABLE_SHOW = 4,
};

_Static_assert(NETADM_IN_OFF + NETADM_IN_MAX <= NETADM_OUT_OFF, "the two areas do not overlap");
_Static_assert(NETADM_OUT_MAX >= 65536u, "room for a long table");

#endif
