//! Classic BPF, as attached to packet sockets (SO_ATTACH_FILTER): the instruction and a decoder
//! into the notation `tcpdump -d` prints, so a user can read what a sniffing socket waits for.
//!
//! Decoding never fails: an instruction this decoder does not know reads as `unknown 0xCODE`,
//! because a hostile program is exactly what the reader needs to see.

use serde::{Deserialize, Serialize};

/// One instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instruction {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// An instruction with its readable form; `jt`/`jf` targets in `text` are absolute, as tcpdump
/// prints them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decoded {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
    pub text: String,
}

/// Decodes a whole program.
pub fn decode(program: &[Instruction]) -> Vec<Decoded> {
    program
        .iter()
        .enumerate()
        .map(|(pc, insn)| Decoded {
            code: insn.code,
            jt: insn.jt,
            jf: insn.jf,
            k: insn.k,
            text: text(pc, insn),
        })
        .collect()
}

/// The kernel's ancillary-data offsets (SKF_AD_OFF + n) that an absolute load may name.
const SKF_AD_OFF: u32 = 0xffff_f000;
const SKF_LL_OFF: u32 = 0xffe0_0000;
const SKF_NET_OFF: u32 = 0xfff0_0000;

fn ancillary(k: u32) -> Option<&'static str> {
    Some(match k.checked_sub(SKF_AD_OFF)? {
        0 => "proto",
        4 => "type",
        8 => "ifidx",
        12 => "nla",
        16 => "nlan",
        20 => "mark",
        24 => "queue",
        28 => "hatype",
        32 => "rxhash",
        36 => "cpu",
        40 => "alu_xor_x",
        44 => "vlan_tci",
        48 => "vlan_avail",
        52 => "poff",
        56 => "rand",
        60 => "vlan_tpid",
        _ => return None,
    })
}

fn offset(k: u32) -> String {
    if k >= SKF_AD_OFF {
        return ancillary(k).map_or_else(|| format!("#0x{k:x}"), |name| format!("#{name}"));
    }
    if k >= SKF_NET_OFF {
        return format!("net[{}]", k - SKF_NET_OFF);
    }
    if k >= SKF_LL_OFF {
        return format!("ll[{}]", k - SKF_LL_OFF);
    }
    format!("[{k}]")
}

fn text(pc: usize, insn: &Instruction) -> String {
    let code = insn.code;
    let k = insn.k;
    let size = match code & 0x18 {
        0x00 => "",
        0x08 => "h",
        0x10 => "b",
        _ => "?",
    };
    let src_x = code & 0x08 != 0;
    let operand = || {
        if src_x {
            "x".to_string()
        } else {
            format!("#0x{k:x}")
        }
    };
    match code & 0x07 {
        // LD
        0x00 => match code & 0xe0 {
            0x00 => format!("ld #0x{k:x}"),
            0x20 if k >= SKF_AD_OFF => format!("ld {}", offset(k)),
            0x20 => format!("ld{size} {}", offset(k)),
            0x40 => format!("ld{size} [x + {k}]"),
            0x60 => format!("ld M[{k}]"),
            0x80 => "ld #len".into(),
            _ => unknown(code),
        },
        // LDX
        0x01 => match code & 0xe0 {
            0x00 => format!("ldx #0x{k:x}"),
            0x60 => format!("ldx M[{k}]"),
            0x80 => "ldx #len".into(),
            0xa0 => format!("ldxb 4*([{k}]&0xf)"),
            _ => unknown(code),
        },
        0x02 => format!("st M[{k}]"),
        0x03 => format!("stx M[{k}]"),
        // ALU
        0x04 => {
            let op = match code & 0xf0 {
                0x00 => "add",
                0x10 => "sub",
                0x20 => "mul",
                0x30 => "div",
                0x40 => "or",
                0x50 => "and",
                0x60 => "lsh",
                0x70 => "rsh",
                0x80 => return "neg".into(),
                0x90 => "mod",
                0xa0 => "xor",
                _ => return unknown(code),
            };
            format!("{op} {}", operand())
        }
        // JMP: targets are relative to the next instruction.
        0x05 => {
            let next = (pc as u64).saturating_add(1);
            if code & 0xf0 == 0x00 {
                return format!("ja {}", next.saturating_add(u64::from(k)));
            }
            let op = match code & 0xf0 {
                0x10 => "jeq",
                0x20 => "jgt",
                0x30 => "jge",
                0x40 => "jset",
                _ => return unknown(code),
            };
            format!(
                "{op} {} jt {} jf {}",
                operand(),
                next.saturating_add(u64::from(insn.jt)),
                next.saturating_add(u64::from(insn.jf))
            )
        }
        // RET
        0x06 => match code & 0x18 {
            0x00 => format!("ret #{k}"),
            0x08 => "ret x".into(),
            0x10 => "ret a".into(),
            _ => unknown(code),
        },
        // MISC
        _ => match code & 0xf8 {
            0x00 => "tax".into(),
            0x80 => "txa".into(),
            _ => unknown(code),
        },
    }
}

/// A comparison of packet payload bytes with a constant: the load and the value compared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadCompare {
    /// The load, as `tcpdump -d` prints it (`ldh [x + 22]`).
    pub load: String,
    pub constant: u32,
}

impl std::fmt::Display for PayloadCompare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} == 0x{:x}", self.load, self.constant)
    }
}

/// What the index register holds, as far as a straight reading of the program can tell.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IndexRegister {
    Unknown,
    /// `ldxb 4*([k]&0xf)`: the IPv4 header's length, so `[x + L]` is the transport header.
    IpHeader,
    /// Computed from loads (`... add x; tax`): the start of the transport payload, the way a
    /// program skips a TCP header of variable length.
    Computed,
}

/// The comparisons of payload bytes (past the IP and transport headers) with constants in a
/// filter: what a magic-packet backdoor checks and a capture filter almost never does.
///
/// `link_header` is 14 for a SOCK_RAW packet socket on Ethernet (frames start with the link
/// header) and 0 for SOCK_DGRAM. The reading is straight, not per branch: a load counts as
/// payload when its offset is past every header it could be — for an absolute offset, past an
/// IPv6 and a UDP header (`L + 48`); for `[x + k]` after `ldxb 4*(…)`, past a UDP header except
/// the TCP header's data-offset, flags and window bytes (`L + 12 … L + 15`), which capture
/// filters do test; for `[x + k]` after a computed index, anything from the index on.
pub fn payload_compares(program: &[Decoded], link_header: u32) -> Vec<PayloadCompare> {
    /// What reaches an instruction: the index register, the payload load that set A (its pc),
    /// and whether A was computed since its load.
    #[derive(Clone, Copy, PartialEq, Eq)]
    struct State {
        x: IndexRegister,
        payload_load: Option<usize>,
        computed: bool,
    }
    /// Paths are merged per instruction; past this many distinct states one is dropped.
    const MAX_STATES: usize = 16;
    let l = link_header;
    let n = program.len();
    let mut reaching: Vec<Vec<State>> = vec![Vec::new(); n];
    if let Some(first) = reaching.first_mut() {
        first.push(State {
            x: IndexRegister::Unknown,
            payload_load: None,
            computed: false,
        });
    }
    let mut found: Vec<PayloadCompare> = Vec::new();
    // Classic BPF jumps only forward, so one pass in program order sees every path.
    for pc in 0..n {
        let insn = &program[pc];
        let code = insn.code;
        let k = insn.k;
        let next = pc + 1;
        for mut state in std::mem::take(&mut reaching[pc]) {
            let mut successors: Vec<usize> = vec![next];
            match code & 0x07 {
                0x00 => {
                    state.computed = false;
                    let payload = match code & 0xe0 {
                        0x20 => k < SKF_LL_OFF && k >= l + 48,
                        0x40 => match state.x {
                            IndexRegister::IpHeader => k >= l + 8 && !(l + 12..=l + 15).contains(&k),
                            IndexRegister::Computed => k >= l,
                            IndexRegister::Unknown => false,
                        },
                        _ => false,
                    };
                    state.payload_load = payload.then_some(pc);
                }
                0x01 => {
                    state.x = if code & 0xe0 == 0xa0 {
                        IndexRegister::IpHeader
                    } else {
                        IndexRegister::Unknown
                    };
                }
                0x04 => state.computed = true,
                0x05 => {
                    if code & 0xf0 == 0x00 {
                        successors = vec![next.saturating_add(k as usize)];
                    } else {
                        successors = vec![next + usize::from(insn.jt), next + usize::from(insn.jf)];
                        if code & 0xf0 == 0x10
                            && code & 0x08 == 0
                            && let Some(load) = state.payload_load
                        {
                            let compare = PayloadCompare {
                                load: program[load].text.clone(),
                                constant: k,
                            };
                            if !found.contains(&compare) {
                                found.push(compare);
                            }
                        }
                    }
                }
                0x06 => successors.clear(),
                0x07 => {
                    if code & 0xf8 == 0x00 {
                        state.x = if state.computed {
                            IndexRegister::Computed
                        } else {
                            IndexRegister::Unknown
                        };
                    } else {
                        state.payload_load = None;
                        state.computed = false;
                    }
                }
                _ => {}
            }
            for target in successors {
                if let Some(slot) = reaching.get_mut(target)
                    && !slot.contains(&state)
                    && slot.len() < MAX_STATES
                {
                    slot.push(state);
                }
            }
        }
    }
    found
}

fn unknown(code: u16) -> String {
    format!("unknown 0x{code:04x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Instruction {
        Instruction { code, jt, jf, k }
    }

    #[test]
    fn tcpdump_icmp_program() {
        // `tcpdump -dd icmp`
        let program = [
            insn(0x28, 0, 0, 12),
            insn(0x15, 0, 3, 0x800),
            insn(0x30, 0, 0, 23),
            insn(0x15, 0, 1, 1),
            insn(0x06, 0, 0, 262144),
            insn(0x06, 0, 0, 0),
        ];
        let texts: Vec<String> = decode(&program).into_iter().map(|d| d.text).collect();
        assert_eq!(
            texts,
            [
                "ldh [12]",
                "jeq #0x800 jt 2 jf 5",
                "ldb [23]",
                "jeq #0x1 jt 4 jf 5",
                "ret #262144",
                "ret #0"
            ]
        );
    }

    #[test]
    fn the_rest_of_the_instruction_set() {
        let cases = [
            (insn(0xb1, 0, 0, 14), "ldxb 4*([14]&0xf)"),
            (insn(0x48, 0, 0, 2), "ldh [x + 2]"),
            (insn(0x20, 0, 0, SKF_AD_OFF + 4), "ld #type"),
            (insn(0x80, 0, 0, 0), "ld #len"),
            (insn(0x02, 0, 0, 3), "st M[3]"),
            (insn(0x54, 0, 0, 0x1fff), "and #0x1fff"),
            (insn(0x0c, 0, 0, 0), "add x"),
            (insn(0x84, 0, 0, 0), "neg"),
            (insn(0x05, 0, 0, 3), "ja 5"),
            (insn(0x45, 1, 0, 0x1fff), "jset #0x1fff jt 3 jf 2"),
            (insn(0x16, 0, 0, 0), "ret a"),
            (insn(0x07, 0, 0, 0), "tax"),
            (insn(0x87, 0, 0, 0), "txa"),
            (insn(0xff, 0, 0, 0), "unknown 0x00ff"),
        ];
        for (insn, want) in &cases {
            assert_eq!(text(1, insn), *want, "{insn:?}");
        }
    }

    /// The filter BPFDoor attaches (Elastic's and Sandfly's write-ups): UDP and ICMP magic at
    /// `[x + 22]`, TCP magic after a computed TCP header length.
    pub fn bpfdoor_like() -> Vec<Instruction> {
        vec![
            insn(0x28, 0, 0, 12),
            insn(0x15, 0, 22, 0x800),
            insn(0x30, 0, 0, 23),
            insn(0x15, 0, 5, 0x11),
            insn(0x28, 0, 0, 20),
            insn(0x45, 18, 0, 0x1fff),
            insn(0xb1, 0, 0, 14),
            insn(0x48, 0, 0, 22),
            insn(0x15, 14, 15, 0x7255),
            insn(0x15, 0, 14, 0x6),
            insn(0x28, 0, 0, 20),
            insn(0x45, 12, 0, 0x1fff),
            insn(0xb1, 0, 0, 14),
            insn(0x50, 0, 0, 26),
            insn(0x54, 0, 0, 0xf0),
            insn(0x74, 0, 0, 2),
            insn(0x0c, 0, 0, 0),
            insn(0x07, 0, 0, 0),
            insn(0x48, 0, 0, 14),
            insn(0x15, 3, 4, 0x5293),
            insn(0x06, 0, 0, 0),
            insn(0x06, 0, 0, 0),
            insn(0x06, 0, 0, 0),
            insn(0x06, 0, 0, 0xffff),
            insn(0x06, 0, 0, 0),
        ]
    }

    #[test]
    fn payload_compares_find_magic_values_and_spare_capture_filters() {
        let found = payload_compares(&decode(&bpfdoor_like()), 14);
        let shown: Vec<String> = found.iter().map(|c| c.to_string()).collect();
        assert_eq!(shown, ["ldh [x + 22] == 0x7255", "ldh [x + 14] == 0x5293"]);
        // `tcpdump -dd 'tcp port 22'` and `tcpdump -dd 'tcp[tcpflags] & tcp-syn != 0'`
        let port = [
            insn(0x28, 0, 0, 12),
            insn(0x15, 0, 8, 0x86dd),
            insn(0x30, 0, 0, 20),
            insn(0x15, 0, 17, 0x6),
            insn(0x28, 0, 0, 54),
            insn(0x15, 14, 0, 0x16),
            insn(0x28, 0, 0, 56),
            insn(0x15, 12, 13, 0x16),
            insn(0x15, 0, 12, 0x800),
            insn(0x30, 0, 0, 23),
            insn(0x15, 0, 10, 0x6),
            insn(0x28, 0, 0, 20),
            insn(0x45, 8, 0, 0x1fff),
            insn(0xb1, 0, 0, 14),
            insn(0x48, 0, 0, 14),
            insn(0x15, 4, 0, 0x16),
            insn(0x48, 0, 0, 16),
            insn(0x15, 2, 3, 0x16),
            insn(0x06, 0, 0, 0x40000),
            insn(0x06, 0, 0, 0),
        ];
        assert!(payload_compares(&decode(&port), 14).is_empty());
        let flags = [
            insn(0x28, 0, 0, 12),
            insn(0x15, 0, 8, 0x800),
            insn(0x30, 0, 0, 23),
            insn(0x15, 0, 6, 0x6),
            insn(0x28, 0, 0, 20),
            insn(0x45, 4, 0, 0x1fff),
            insn(0xb1, 0, 0, 14),
            insn(0x50, 0, 0, 27),
            insn(0x45, 0, 1, 0x2),
            insn(0x06, 0, 0, 0x40000),
            insn(0x06, 0, 0, 0),
        ];
        assert!(payload_compares(&decode(&flags), 14).is_empty());
    }

    #[test]
    fn hostile_values_do_not_panic() {
        for code in 0..=u16::MAX {
            let _ = text(usize::MAX - 1, &insn(code, 255, 255, u32::MAX));
        }
    }
}
