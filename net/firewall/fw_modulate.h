/*
 * fw_modulate.h - modulate state's packet rewriting: TCP sequence and
 * acknowledgement numbers, SACK edges, and the sequence and acknowledgement
 * numbers an ICMP or ICMPv6 error quotes (which offsets, and why:
 * fw_state.h, struct fw_modulate).  IPv4 packets through fw_modulate_ipv4;
 * IPv6 ones by their TCP header (fw_modulate_tcp, at fw6_packet.l4off)
 * and fw6_modulate_error (fw6.h), which uses fw_modulate_quote.  The
 * quote's SACK edges are not given back (pf gives back the sequence
 * number alone); Linux, for one, checks only the quoted sequence number.
 *
 * Partial checksums were checked, not assumed: in ones' complement,
 * ~(~P + ~m + m') = P + m - m', so RFC 1624 on a field that holds a
 * pseudo-header sum P moves it against the change, and the device, which
 * sums the new words itself, completes the old checksum: off by the change
 * (tests/unit/test_fw_modulate.c, test_partial_and_gso, shows both).
 *
 * Order against NAT (fw_nat_rewrite): either order gives the same packet.
 * NAT changes addresses and ports, this changes other words; both fix the
 * checksums incrementally (RFC 1624), and a ones' complement sum does not
 * care in which order its words change.  The state was found before either
 * rewrite, from the packet as it arrived.
 *
 * Checksums.  CSUM_PARTIAL false: the TCP checksum field holds the full
 * checksum (or a wrong one, which stays exactly as wrong): it is updated
 * for each changed word.  CSUM_PARTIAL true: the frame's checksum is left
 * to the device or the receiver to complete (abi/keel/nic.h
 * NIC_DF_CSUM_PARTIAL): the field holds only the pseudo-header sum, not
 * complemented, and the checksum is summed later over the TCP bytes as
 * they are then.  Sequence numbers, acknowledgement numbers and options
 * are not in the pseudo-header, so the field must stay as it is: RFC 1624
 * applied to a partial sum would move it the wrong way and the completed
 * checksum would be off by exactly the change.  (The IP header checksum is
 * not touched: no IP header field changes.)  A TSO/GSO segment of up to
 * 64 KiB has one TCP header, rewritten once; cutting it later (device
 * TSO, nof_segment) adds k * MSS to the rewritten sequence number.
 *
 * SACK (RFC 2018, option 5): every edge of every block, at any alignment
 * (an edge at an odd offset straddles checksum words: the words around it
 * are summed before and after).  A malformed option list is left as it is
 * from the bad option on (the end host drops such a segment anyway).
 *
 * Pure C, no allocation, no globals.
 */
#ifndef KEEL_FW_MODULATE_H
#define KEEL_FW_MODULATE_H

#include "fw_state.h"

/*
 * Rewrites the TCP header TH (AVAIL bytes from TH that belong to the
 * segment; at least the header with its options) as M says.  Returns true
 * iff a byte changed; false (nothing changed) when M is all zero or AVAIL
 * is shorter than the header.
 */
bool fw_modulate_tcp(uint8_t *th, size_t avail, const struct fw_modulate *m, bool csum_partial);

/*
 * The same for the IPv4 packet IP (LEN bytes, as fw_parse_ipv4 parsed it
 * into P): a TCP segment's header (seq_add, ack_sub), or an ICMP error's
 * quoted TCP segment (quote_seq_sub and quote_ack_add: its sequence number,
 * its acknowledgement number when the quote reaches it, the quoted TCP
 * checksum when the quote holds it, and the ICMP checksum: pf restores the
 * sequence number alone; Keel gives the sender back its segment as sent).  Returns true
 * iff it changed the packet.
 */
bool fw_modulate_ipv4(uint8_t *ip, size_t len, const struct fw_packet *p, const struct fw_modulate *m,
                      bool csum_partial);

/*
 * The quote of an ICMP or ICMPv6 error (its header at L4, AVAIL bytes)
 * whose quoted TCP header starts QTCP bytes after L4 (even; at least its
 * first 8 bytes quoted): quote_seq_sub and quote_ack_add as above, the
 * error's checksum (at L4 + 2; ICMPv6's pseudo-header does not change) and
 * the quoted TCP checksum kept right.  True iff it changed the packet.
 */
bool fw_modulate_quote(uint8_t *l4, size_t avail, size_t qtcp, const struct fw_modulate *m);

#endif
