// SPDX-License-Identifier: (MIT OR Apache-2.0) AND GPL-2.0-only
/* portscope's socket events: every program writes one `struct ps_event` into the `events` ring
 * buffer, or counts one drop in `drops` when the buffer is full. CO-RE: kernel structs are read
 * through preserve_access_index relocations, so the object loads on other kernels with BTF.
 *
 * - raw_tp/inet_sock_set_state: TCP state changes (LISTEN, connect, close, ...). The pid is only
 *   meaningful where the change happens in the caller's context (listen(), connect(), close()):
 *   it is sent for those and 0 otherwise.
 * - cgroup/post_bind4, cgroup/post_bind6: successful binds (TCP and UDP), in the caller's context,
 *   attached to a cgroup2 root. (fexit/inet_bind would need no cgroup2 mount, but tracing
 *   trampolines are refused with EPERM on the kernels this was built on.)
 * - cgroup/sock_release: a bound UDP socket being closed (TCP closes come as state changes).
 * - raw_tp/tcp_send_reset with no socket: a SYN (or other segment) to a closed port.
 * - raw_tp/icmp_send, destination unreachable / port unreachable: a UDP datagram to a closed port.
 *
 * The license is GPL because the kernel lends bpf_probe_read_kernel and the tracing program
 * types only to GPL-compatible programs; the userspace code is MIT OR Apache-2.0. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "events.h"

#define AF_INET 2
#define AF_INET6 10
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define ICMP_DEST_UNREACH 3
#define ICMP_PORT_UNREACH 3

char LICENSE[] SEC("license") = "GPL";

/* Only this network namespace's events (its inode), when not 0: set by the loader, so that a
 * flood elsewhere never fills this reader's buffer. */
const volatile __u64 netns_filter = 0;

static __always_inline int wanted(__u64 netns)
{
	return netns_filter == 0 || netns == netns_filter;
}

/* 256 KiB: about 2,300 events waiting; the reader drains it continuously. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline struct ps_event *reserve(void)
{
	struct ps_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__u32 zero = 0;
		__u64 *count = bpf_map_lookup_elem(&drops, &zero);
		if (count)
			*count += 1;
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->time_ns = bpf_ktime_get_boot_ns();
	return e;
}

static __always_inline void caller(struct ps_event *e)
{
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/* Addresses, ports, family, protocol and namespace of a socket. */
static __always_inline void socket_fields(struct ps_event *e, const struct sock *sk)
{
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	__u16 num = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->lport = __builtin_bswap16(num);
	e->rport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	if (e->family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&e->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		BPF_CORE_READ_INTO((__u32 *)e->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)e->raddr, sk, __sk_common.skc_daddr);
	}
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(ps_state, const struct sock *sk, int oldstate, int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (!wanted(BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum)))
		return 0;
	struct ps_event *e = reserve();
	if (!e)
		return 0;
	e->kind = PS_STATE;
	e->oldstate = oldstate;
	e->newstate = newstate;
	socket_fields(e, sk);
	/* listen(), connect() and close() of a listener run in the caller's context; the other
	 * changes mostly run on packet receipt, where the current task is whoever was interrupted. */
	if (newstate == TCP_LISTEN || newstate == TCP_SYN_SENT || oldstate == TCP_LISTEN)
		caller(e);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* A successful bind() of a TCP or UDP socket, or a bound UDP socket being closed: cgroup socket
 * hooks on the cgroup2 root (every process below it), run in the caller's context. The kernel
 * shows a socket's own address and port to post_bind programs only, so the bind keeps them in
 * the socket's local storage for the release. */
struct bound {
	__u8 family;
	__u8 protocol;
	__u16 lport;
	__u8 laddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct bound);
} bound_sockets SEC(".maps");

static __always_inline void emit(const struct bound *b, __u8 kind)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	if (!wanted(netns))
		return;
	struct ps_event *e = reserve();
	if (!e)
		return;
	e->kind = kind;
	e->family = b->family;
	e->protocol = b->protocol;
	e->lport = b->lport;
	__builtin_memcpy(e->laddr, b->laddr, 16);
	e->netns = netns;
	caller(e);
	bpf_ringbuf_submit(e, 0);
}

/* The bound socket's fields, written into `b` one by one (ctx fields must be read directly, one
 * load each, and only those of the hook's own family). */
static __always_inline int bound_socket(struct bpf_sock *sk, struct bound *b)
{
	__u32 protocol = sk->protocol;
	if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP)
		return 1;
	b->protocol = protocol;
	b->lport = __builtin_bswap16((__u16)sk->src_port);
	emit(b, PS_BIND);
	if (protocol == IPPROTO_UDP) {
		struct bound *kept = bpf_sk_storage_get(&bound_sockets, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (kept)
			*kept = *b;
	}
	return 1;
}

SEC("cgroup/post_bind4")
int ps_bind4(struct bpf_sock *sk)
{
	struct bound b;
	__builtin_memset(&b, 0, sizeof(b));
	b.family = AF_INET;
	__u32 ip = sk->src_ip4;
	*(__u32 *)b.laddr = ip;
	return bound_socket(sk, &b);
}

SEC("cgroup/post_bind6")
int ps_bind6(struct bpf_sock *sk)
{
	struct bound b;
	__builtin_memset(&b, 0, sizeof(b));
	b.family = AF_INET6;
	__u32 *words = (__u32 *)b.laddr;
	words[0] = sk->src_ip6[0];
	words[1] = sk->src_ip6[1];
	words[2] = sk->src_ip6[2];
	words[3] = sk->src_ip6[3];
	return bound_socket(sk, &b);
}

SEC("cgroup/sock_release")
int ps_release(struct bpf_sock *sk)
{
	struct bound *b = bpf_sk_storage_get(&bound_sockets, sk, 0, 0);
	if (b)
		emit(b, PS_RELEASE);
	return 1;
}

/* The refused packet's addresses: source (who knocked), destination and its port. */
static __always_inline void refused_packet(struct ps_event *e, const struct sk_buff *skb, __u8 protocol)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 network = BPF_CORE_READ(skb, network_header);
	__u16 transport = BPF_CORE_READ(skb, transport_header);
	__u8 version = 0;
	bpf_probe_read_kernel(&version, 1, head + network);
	version >>= 4;
	if (version == 4) {
		struct iphdr ip;
		bpf_probe_read_kernel(&ip, sizeof(ip), head + network);
		e->family = AF_INET;
		__builtin_memcpy(e->raddr, &ip.saddr, 4);
		__builtin_memcpy(e->laddr, &ip.daddr, 4);
	} else if (version == 6) {
		struct ipv6hdr ip;
		bpf_probe_read_kernel(&ip, sizeof(ip), head + network);
		e->family = AF_INET6;
		__builtin_memcpy(e->raddr, &ip.saddr, 16);
		__builtin_memcpy(e->laddr, &ip.daddr, 16);
	}
	/* TCP and UDP both start with source port, destination port. */
	__u16 ports[2] = {};
	bpf_probe_read_kernel(ports, sizeof(ports), head + transport);
	e->rport = ports[0];
	e->lport = ports[1];
	e->protocol = protocol;
	e->netns = BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
}

SEC("raw_tp/tcp_send_reset")
int BPF_PROG(ps_reset, const struct sock *sk, const struct sk_buff *skb, int reason)
{
	/* With a socket, the reset ends a connection; without one, nothing listens on the port. */
	if (sk || !skb)
		return 0;
	if (!wanted(BPF_CORE_READ(skb, dev, nd_net.net, ns.inum)))
		return 0;
	struct ps_event *e = reserve();
	if (!e)
		return 0;
	e->kind = PS_REFUSAL;
	refused_packet(e, skb, IPPROTO_TCP);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("raw_tp/icmp_send")
int BPF_PROG(ps_unreach, const struct sk_buff *skb, int type, int code)
{
	if (type != ICMP_DEST_UNREACH || code != ICMP_PORT_UNREACH || !skb)
		return 0;
	if (BPF_CORE_READ(skb, protocol) != __builtin_bswap16(0x0800))
		return 0;
	if (!wanted(BPF_CORE_READ(skb, dev, nd_net.net, ns.inum)))
		return 0;
	struct ps_event *e = reserve();
	if (!e)
		return 0;
	e->kind = PS_REFUSAL;
	refused_packet(e, skb, IPPROTO_UDP);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
