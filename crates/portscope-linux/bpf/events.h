/* The record the kernel side writes into the ring buffer, shared with the Rust reader
 * (crates/portscope-linux/src/events/record.rs parses it byte by byte: keep both in step).
 * Little-endian hosts only; addresses and ports as on the wire (network order), other fields
 * in host order. */
#ifndef PORTSCOPE_EVENTS_H
#define PORTSCOPE_EVENTS_H

/* kind */
#define PS_STATE 1   /* a TCP state change (inet_sock_set_state) */
#define PS_BIND 2    /* a successful bind() (inet_bind / inet6_bind) */
#define PS_RELEASE 3 /* a bound UDP socket closed (inet_release) */
#define PS_REFUSAL 4 /* the kernel refused a connection: RST or ICMP port unreachable */

struct ps_event {
	__u64 time_ns; /* CLOCK_BOOTTIME */
	__u64 netns;   /* the network namespace's inode */
	__u32 pid;     /* thread group id; 0 when not in the context of a process */
	__u32 uid;
	__u8 kind;
	__u8 protocol; /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family;   /* AF_INET / AF_INET6 */
	__u8 oldstate;
	__u8 newstate;
	__u8 pad[3];
	__u16 lport; /* network order */
	__u16 rport; /* network order */
	__u8 laddr[16];
	__u8 raddr[16];
	char comm[16];
};

#endif
