/*
 * lwipopts.h - netd's lwIP 2.2 configuration (lwIP reads it through
 * lwip/opt.h; every option not set here keeps opt.h's default).
 *
 * The shape: NO_SYS=1, one thread (netd's event loop, net/netd.c) calls
 * into lwIP and nothing else does, so there is no locking
 * (SYS_LIGHTWEIGHT_PROT 0) and no sockets/netconn API (they need threads).
 * IPv4 and IPv6: Ethernet + ARP, ICMP, DHCP client, IPv6 with ND/SLAAC/MLD
 * (the IPv6 section below), UDP, TCP, raw PCBs (for the
 * console's `ping` later), forwarding between netifs.  No reassembly and no
 * fragmentation: the firewall drops every fragment (net/firewall/fw_match.h:
 * it filters before lwIP would reassemble, and a later fragment has no ports
 * to match), so lwIP never gets one to reassemble and must never make one;
 * forwarded packets too big for the next link are answered with ICMP
 * "fragmentation needed" (DF) or dropped (no DF), and counted.
 *
 * Memory: lwIP's own allocators only, never malloc (MEM_LIBC_MALLOC 0,
 * MEMP_MEM_MALLOC 0).  Every pool and the small heap (MEM_SIZE, for
 * PBUF_RAM: outgoing TCP segments, ICMP replies, ARP) are static arrays in
 * netd's .bss, sized below; the sum must stay well under 4 MiB, the largest
 * segment init can load (docs/ARCHITECTURE.md section 8.3), and inside the
 * manifest's `memory` for netd.  MEMP_STATS/MEM_STATS are on so pool use,
 * high-water marks and allocation failures are visible (netd_stats_log()).
 * Exhaustion is never fatal: a failed allocation drops the packet and lwIP
 * counts it in lwip_stats (err, memp[i]->err).
 *
 * Sizing, for a two-NIC firewall with a few hundred TCP connections later:
 *   PBUF_POOL   every received frame is copied into one pool pbuf
 *               (nic_netif.c), so the pool bounds frames queued inside lwIP
 *               (ARP queue, TCP out-of-order); 1536-byte buffers
 *               hold a whole 1514-byte frame in one pbuf.
 *   MEM_SIZE    PBUF_RAM: TX (up to TCP_SND_BUF per busy connection) and
 *               received frames of more than one pool buffer (64 KiB GSO
 *               segments, nic_netif.c); 1.5 MiB in a frame of its own.
 *               netd's whole budget stays at 5M (with the pool at 256
 *               pbufs), so the appliance still serves TLS in 32 MiB: init
 *               hands out every server's budget up front.
 *   TCP_SEG     >= TCP_SND_QUEUELEN per busy connection.
 *   TCP_PCB     the socket service (abi/keel/socket.h) gives each client
 *               8,192 sockets; tlsd uses up to 8,184 (4,092 proxied
 *               connections x 2) plus its listeners, and closed
 *               connections linger in TIME_WAIT.  512 static; the pool
 *               grows in chunks of 256 from netd's budget as sockets are
 *               used, to 8,448 (netd_pcbpool.h: ~350 bytes each, 2.8 MiB
 *               at the most), so a small guest pays only for what it uses.
 * Memory per busy socket: up to TCP_WND received (pool pbufs in the rx
 * ring's pend) and TCP_SND_BUF queued to send (PBUF_RAM in MEM_SIZE); the
 * pools below do not cover 250 sockets all at full window at once (that
 * would be ~20 MiB): exhaustion drops a frame (the peer retransmits) or
 * makes tcp_write wait for the next poll, and the counters show it.
 * TCP_WND is 256 KiB with window scaling (RFC 7323, shift 3), TCP_SND_BUF
 * the same: a connection is bounded by window / RTT, and 64 KiB (the most
 * without scaling) bounded a sink behind a tap under TCG.  The window is a
 * promise, not memory: bytes are held only while the client does not read
 * (netd_sock.c), and the pools and heap bound them all together.  lwIP
 * sends a window update once the window has opened by
 * TCP_WND_UPDATE_THRESHOLD (4 MSS), as the client's reads free the ring.
 * Static total about 2.3 MiB of netd's .bss with IPv6 (the RW segment),
 * plus the 1.5 MiB heap frame (manifest: netd memory 7M).
 */
#ifndef NETD_LWIPOPTS_H
#define NETD_LWIPOPTS_H

/* ---- system: one thread, no OS ---- */
#define NO_SYS               1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_TIMERS          1
#define LWIP_NETCONN         0
#define LWIP_SOCKET          0
#define LWIP_NETIF_API       0

/* ---- memory: lwIP's pools and heap, static, no libc malloc ---- */
#define MEM_LIBC_MALLOC 0
#define MEMP_MEM_MALLOC 0
#define MEM_USE_POOLS   0
#define MEM_ALIGNMENT   8
#define MEM_SIZE        (1536 * 1024)
/* The heap is a frame netd maps at start (net/netd.c), not .bss. */
#define LWIP_RAM_HEAP_POINTER netd_lwip_heap
extern unsigned char *netd_lwip_heap;
/* Cheap corruption checks: a guard region around every pool element and
 * heap block, checked when it is freed (level 1, not the O(n) level 2). */
#define MEMP_OVERFLOW_CHECK 1
#define MEM_OVERFLOW_CHECK  1

#define PBUF_POOL_SIZE          256 /* plain frames only: 64 KiB segments go to MEM_SIZE */
#define PBUF_POOL_BUFSIZE       1536
#define MEMP_NUM_PBUF           256 /* PBUF_REF/ROM headers */
#define MEMP_NUM_RAW_PCB        4
#define MEMP_NUM_UDP_PCB        8
#define MEMP_NUM_TCP_PCB        512 /* the static part: netd_pcbpool.c adds chunks with use, to NETD_PCB_MAX */
#define MEMP_NUM_TCP_PCB_LISTEN 16
#define MEMP_NUM_TCP_SEG        1024
#define MEMP_NUM_ARP_QUEUE      32
/* lwIP's own timers plus netd's (the periodic statistics line, the socket
 * service's dead-client poll). */
#define MEMP_NUM_SYS_TIMEOUT (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 5)

/* ---- link layer ---- */
#define LWIP_ETHERNET                 1
#define LWIP_ARP                      1
#define ETH_PAD_SIZE                  0
#define ARP_TABLE_SIZE                64
#define ARP_QUEUEING                  1
#define ARP_QUEUE_LEN                 8
#define ETHARP_SUPPORT_STATIC_ENTRIES 0
#define ETHARP_TABLE_MATCH_NETIF      1 /* same IP seen on two NICs: keep both entries apart */

/* ---- IPv4 ---- */
#define LWIP_IPV4  1
#define LWIP_IPV6  1 /* dual stack: see the IPv6 section below */
#define IP_FORWARD 1 /* route between netifs (the firewall filters, net/firewall/) */
#define IP_FORWARD_ALLOW_TX_ON_RX_NETIF                                                                                \
    1 /* NAT reflection: a LAN host's packet to a forwarded port goes back out on the LAN (fw_nat.h) */
#define IP_REASSEMBLY       0 /* see the top: the firewall drops fragments */
#define IP_FRAG             0
#define IP_DEFAULT_TTL      64
#define IP_SOF_BROADCAST    0
#define LWIP_ICMP           1
#define LWIP_BROADCAST_PING 0
#define LWIP_MULTICAST_PING 0
#define LWIP_RAW            1
#define LWIP_IGMP           0
#define LWIP_AUTOIP         0
#define LWIP_DNS            0

/* ---- IPv6 (net/netd_ip6.c) ----
 * Link-local addresses, neighbour discovery, SLAAC from router
 * advertisements (`autoconf`), static addresses, ICMPv6 echo, MLDv1 for
 * the solicited-node groups, forwarding between netifs (filtered like IPv4:
 * net/netd_fw6.c).  No fragmentation or reassembly (the firewall drops
 * every fragment, as for IPv4; forwarded packets too big for the next link
 * get ICMPv6 packet too big), no DHCPv6.  Three addresses per netif:
 * link-local, one static and one from SLAAC at most.  The neighbour,
 * destination, prefix and router caches are a few KiB in all. */
#define LWIP_IPV6_NUM_ADDRESSES         3
#define LWIP_IPV6_FORWARD               1
#define LWIP_IPV6_FRAG                  0
#define LWIP_IPV6_REASS                 0
#define LWIP_IPV6_AUTOCONFIG            1
#define LWIP_IPV6_ADDRESS_LIFETIMES     1
#define LWIP_IPV6_SEND_ROUTER_SOLICIT   1
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS   1
#define LWIP_IPV6_MLD                   1
#define LWIP_IPV6_DHCP6                 0
#define LWIP_IPV6_SCOPES                1
#define LWIP_ICMP6                      1
#define LWIP_ICMP6_DATASIZE             8
#define LWIP_ND6_NUM_NEIGHBORS          64
#define LWIP_ND6_NUM_DESTINATIONS       64
#define LWIP_ND6_NUM_PREFIXES           8
#define LWIP_ND6_NUM_ROUTERS            4
#define LWIP_ND6_QUEUEING               1
#define MEMP_NUM_ND6_QUEUE              32
#define LWIP_ND6_ALLOW_RA_UPDATES       1
#define LWIP_ND6_TCP_REACHABILITY_HINTS 1
#define MEMP_NUM_MLD6_GROUP             (4 * 8)

/* ---- DHCP client ---- */
/* lwIP 2.1's DHCP_DOES_ARP_CHECK (one ARP probe, 0.5 s) became address
 * conflict detection in 2.2 (acd.c, RFC 5227: three probes and an
 * announcement wait), which holds an offered address for 5 to 8 s before
 * DHCP may use it: every DHCP boot would serve that much later.  Off: the
 * address is taken when the server acks it (dnsmasq, the usual server,
 * checks with a ping before it offers). */
#define LWIP_DHCP                1
#define LWIP_DHCP_DOES_ACD_CHECK 0
#define LWIP_ACD                 0
#define LWIP_DHCP_CHECK_LINK_UP  1
#define LWIP_DHCP_GET_NTP_SRV    0

/* ---- UDP, TCP ---- */
#define LWIP_UDP                   1
#define LWIP_UDPLITE               0
#define LWIP_TCP                   1
#define TCP_MSS                    1460
#define TCP_WND                    (256 * 1024) /* with window scaling: see the top */
#define TCP_SND_BUF                (256 * 1024)
#define TCP_SND_QUEUELEN           ((2 * TCP_SND_BUF) / TCP_MSS)
#define TCP_SNDLOWAT               (32 * 1024) /* lwIP keeps it below 64 KiB - 4 MSS */
#define TCP_QUEUE_OOSEQ            1
#define TCP_OOSEQ_MAX_PBUFS        16 /* per connection: bounds what one peer can pin */
#define TCP_LISTEN_BACKLOG         1
#define TCP_DEFAULT_LISTEN_BACKLOG 16
#define LWIP_TCP_KEEPALIVE         1
/* SOF_REUSEADDR for listeners (netd_sock.c do_listen): a listener stopped
 * and started again within TIME_WAIT of a connection it served (a TLS
 * listener deleted and re-added by a commit) takes its port back; two
 * listeners on one port are still refused (tcp_listen's ERR_USE). */
#define SO_REUSE            1
#define LWIP_TCP_TIMESTAMPS 0
#define LWIP_WND_SCALE      1
#define TCP_RCV_SCALE       3 /* 65535 << 3 >= TCP_WND */
#define LWIP_ALTCP          0

/* ---- netifs ---- */
#define LWIP_SINGLE_NETIF          0
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK   1
#define LWIP_NETIF_HOSTNAME        1
#define LWIP_NETIF_TX_SINGLE_PBUF  0 /* nic_netif.c copies chains into one NIC buffer anyway */
#define LWIP_HAVE_LOOPIF           0
#define LWIP_NETIF_LOOPBACK        0

/* ---- checksums ----
 * Received TCP/UDP checksums are checked by nic_netif.c before the
 * firewall (or by the device: NIC_DF_CSUM_VALID/PARTIAL), so lwIP checks
 * none (it would not check forwarded packets anyway).  lwIP generates them
 * per netif: not on a NIC that completes them (NIC_FEAT_TX_CSUM). */
#define CHECKSUM_CHECK_TCP           0
#define CHECKSUM_CHECK_UDP           0
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
#define LWIP_CHKSUM_ALGORITHM        3

/* ---- statistics: visible pool use (netd_stats_log in net/netd.c) ---- */
#define LWIP_STATS         1
#define LWIP_STATS_LARGE   1 /* 32-bit counters: 16-bit ones wrap within seconds */
#define LWIP_STATS_DISPLAY 0
#define LINK_STATS         1
#define ETHARP_STATS       1
#define IP_STATS           1
#define IPFRAG_STATS       0 /* no reassembly, no fragmentation */
#define ICMP_STATS         1
#define ICMP6_STATS        1
#define IP6_STATS          1
#define ND6_STATS          1
#define MLD6_STATS         0
#define UDP_STATS          1
#define TCP_STATS          1
#define MEM_STATS          1
#define MEMP_STATS         1
#define SYS_STATS          0

/* ---- hooks: RFC 6528 initial sequence numbers (net/netd_rand.c) ---- */
#define LWIP_HOOK_FILENAME "netd_hooks.h"

/* ---- debugging: build with -DNETD_LWIP_DEBUG to get lwIP's messages ---- */
#ifdef NETD_LWIP_DEBUG
#define LWIP_DEBUG         1
#define LWIP_DBG_MIN_LEVEL LWIP_DBG_LEVEL_ALL
#define LWIP_DBG_TYPES_ON  LWIP_DBG_ON
#define NETIF_DEBUG        LWIP_DBG_ON
#define DHCP_DEBUG         LWIP_DBG_ON
#define ETHARP_DEBUG       LWIP_DBG_ON
#define IP_DEBUG           LWIP_DBG_ON
#endif

#endif
