//! The userspace switch: a TUN device in each host, and a [`Port`] per
//! host whose thread reads what that host sends, routes each packet by its
//! destination address to a [`NetemModel`] of its own for that directed
//! pair (made when the pair's first packet comes, seeded per pair), and
//! delivers what comes due to the destination's device. Two hosts make the
//! classic link: one port, one model each way.
//!
//! Each port is a thread that waits in `ppoll` (nanosecond timeouts,
//! timer slack 1 ns) for either a packet or the head of its queue to come
//! due, so delays are accurate to tens of microseconds, not to a
//! millisecond timer tick. It runs in the real-time class where permitted,
//! so busy processes beside it do not delay it, and counts how late each
//! packet left against its schedule (`late_*_us` in its counters).

use std::collections::HashMap;
use std::io::IoSlice;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::time::TimeSpec;

use crate::netem::counters::{CounterSnapshot, Counters};
use crate::netem::impairment::Impairment;
use crate::netem::model::NetemModel;
use crate::sys;
use crate::wire::vnet::{MAX_IP, VNET_HDR_LEN};
use crate::wire::{gro, gso};
use crate::{Error, Result};

/// Packets read per wake-up at most, so a flood cannot starve releases.
const BURST: usize = 256;

/// The forwarders' real-time priority: above every ordinary process, so a
/// busy machine does not deschedule them (they sleep in `ppoll` between
/// packets, and the kernel keeps 5% of each second for everything else).
const REALTIME_PRIORITY: libc::c_int = 10;

/// Puts the calling thread in the real-time class at the forwarders'
/// priority, unless `BADNET_WIRE_REALTIME=0`: for threads whose wake-ups
/// must keep a schedule on a busy machine (a forwarder, the thread that
/// plays a timeline). Where it is not permitted, `who` shares the CPU.
pub fn realtime_thread(who: &str) {
    if realtime_wanted() {
        if let Err(e) = sys::set_realtime(REALTIME_PRIORITY) {
            tracing::debug!("real-time scheduling: {e}; {who} shares the CPU");
        }
    }
}

/// Whether forwarders ask for real-time scheduling: unless
/// `BADNET_WIRE_REALTIME=0` (to see what a busy machine does without it).
fn realtime_wanted() -> bool {
    std::env::var("BADNET_WIRE_REALTIME").map_or(true, |v| v != "0")
}

/// The switch: one port per host, the address table they route by, and
/// every pair's counters.
#[derive(Debug)]
pub struct Switch {
    ports: Vec<Port>,
    devices: Vec<Arc<OwnedFd>>,
    table: Arc<Table>,
    pairs: Arc<PairRegistry>,
}

/// Where each address is: the port of the host that has it, and a
/// generation that changes with every change of the table, so that a port
/// can keep the last answer it looked up until then.
#[derive(Debug, Default)]
pub struct Table {
    ports: RwLock<HashMap<Ipv4Addr, usize>>,
    generation: AtomicU64,
}

impl Table {
    fn port(&self, addr: Ipv4Addr) -> Option<usize> {
        self.ports.read().expect("table lock").get(&addr).copied()
    }
}

/// A port's last lookup in the table: most packets of a burst go where the
/// one before went.
#[derive(Debug, Default)]
struct LastRoute {
    generation: u64,
    addr: Option<Ipv4Addr>,
    port: Option<usize>,
}

/// Each directed pair's live counters, made when the pair is first used.
#[derive(Debug, Default)]
pub struct PairRegistry {
    pairs: Mutex<HashMap<(usize, usize), Arc<Counters>>>,
}

impl PairRegistry {
    fn get(&self, from: usize, to: usize) -> Arc<Counters> {
        self.pairs
            .lock()
            .expect("registry lock")
            .entry((from, to))
            .or_default()
            .clone()
    }

    /// Every pair's counts now.
    pub fn snapshot(&self) -> std::collections::BTreeMap<(usize, usize), CounterSnapshot> {
        self.pairs
            .lock()
            .expect("registry lock")
            .iter()
            .map(|(k, c)| (*k, c.snapshot()))
            .collect()
    }
}

/// What a port's pairs are impaired with: every destination `default`,
/// unless `pairs` names it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortSpec {
    pub default: Impairment,
    pub pairs: HashMap<usize, Impairment>,
}

impl PortSpec {
    /// The impairment of the pair to `to`.
    pub fn of(&self, to: usize) -> &Impairment {
        self.pairs.get(&to).unwrap_or(&self.default)
    }
}

/// A port's new spec, and where it says when it took it, with its pairs'
/// counts at that moment.
type Command = (PortSpec, SyncSender<Taken>);
/// When a port took a spec, and each of its pairs' counts then.
pub type Taken = (Instant, Vec<((usize, usize), CounterSnapshot)>);

/// How long [`Switch::set`] waits for a port to take a command.
const TAKE_LIMIT: Duration = Duration::from_secs(1);

/// One host's thread, and how to reach it.
#[derive(Debug)]
struct Port {
    control: Sender<Command>,
    wake: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

/// The seed of the pair `from -> to`: `seed` itself for the first host to
/// the second, and for the rest a mix that differs per pair, so one seed
/// replays every pair.
pub fn pair_seed(seed: u64, from: usize, to: usize) -> u64 {
    match (from, to) {
        (0, 1) => seed,
        (1, 0) => seed.rotate_left(32) ^ 0x5bd1_e995,
        _ => {
            let mut z =
                seed ^ ((from as u64) << 32 | to as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }
}

impl Switch {
    /// Starts a port for each device of `devices` (host `i`'s TUN, at
    /// `addrs[i]`), each pair impaired as `specs[i]` says. `count_every_pair`
    /// makes every pair's counters at once, so that pairs nothing crossed
    /// are counted as zeros rather than absent.
    pub fn start(
        devices: Vec<OwnedFd>,
        addrs: &[Ipv4Addr],
        specs: Vec<PortSpec>,
        seed: u64,
        count_every_pair: bool,
    ) -> Result<Self> {
        let n = devices.len();
        let outputs: Arc<[Arc<OwnedFd>]> = devices.into_iter().map(Arc::new).collect();
        let table = Arc::new(Table::default());
        table
            .ports
            .write()
            .expect("table lock")
            .extend(addrs.iter().copied().zip(0..));
        let pairs = Arc::new(PairRegistry::default());
        if count_every_pair {
            for (s, d) in (0..n).flat_map(|s| (0..n).map(move |d| (s, d))) {
                if s != d {
                    pairs.get(s, d);
                }
            }
        }
        let epoch = Instant::now();
        let ports = specs
            .into_iter()
            .enumerate()
            .map(|(me, spec)| {
                Port::spawn(
                    me,
                    outputs.clone(),
                    table.clone(),
                    pairs.clone(),
                    spec,
                    seed,
                    epoch,
                )
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            ports,
            devices: outputs.to_vec(),
            table,
            pairs,
        })
    }

    /// Gives port `from` a new spec while traffic flows, and returns the
    /// moment it took it (packets it reads from then on meet it) with its
    /// pairs' counts at that moment: what the old one did, exactly. A port
    /// that has stopped, or that does not answer within a second, is an
    /// error.
    pub fn set(&self, from: usize, spec: PortSpec) -> Result<Taken> {
        let port = &self.ports[from];
        let (taken, at) = mpsc::sync_channel(1);
        port.control.send((spec, taken)).map_err(|_| {
            Error::sys("telling a wire port")(std::io::ErrorKind::BrokenPipe.into())
        })?;
        port.wake();
        at.recv_timeout(TAKE_LIMIT).map_err(|_| {
            Error::sys(format!(
                "a wire port taking a new impairment within {TAKE_LIMIT:?}"
            ))(std::io::ErrorKind::TimedOut.into())
        })
    }

    /// Every pair's counts so far.
    pub fn counters(&self) -> std::collections::BTreeMap<(usize, usize), CounterSnapshot> {
        self.pairs.snapshot()
    }

    /// Routes `new` to port `port` (a host renumbered), and stops routing
    /// `old`.
    pub fn readdress(&self, port: usize, old: Ipv4Addr, new: Ipv4Addr) {
        let mut ports = self.table.ports.write().expect("table lock");
        ports.remove(&old);
        ports.insert(new, port);
        self.table.generation.fetch_add(1, Ordering::Release);
    }
}

impl Drop for Switch {
    /// Stops every port, then closes the devices from several threads at
    /// once: the kernel takes tens of milliseconds to detach each, most of
    /// it waiting, not working.
    fn drop(&mut self) {
        self.ports.clear();
        let devices: Vec<Arc<OwnedFd>> = std::mem::take(&mut self.devices);
        let chunk = devices.len().div_ceil(CLOSERS).max(1);
        let mut devices = devices.into_iter();
        std::thread::scope(|s| loop {
            let batch: Vec<Arc<OwnedFd>> = devices.by_ref().take(chunk).collect();
            if batch.is_empty() {
                break;
            }
            s.spawn(move || drop(batch));
        });
    }
}

/// Threads that close a switch's devices.
const CLOSERS: usize = 32;

impl Port {
    fn spawn(
        me: usize,
        outputs: Arc<[Arc<OwnedFd>]>,
        table: Arc<Table>,
        registry: Arc<PairRegistry>,
        spec: PortSpec,
        seed: u64,
        epoch: Instant,
    ) -> Result<Self> {
        let wake = EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(|e| Error::sys("eventfd")(e.into()))?;
        let wake = Arc::new(wake);
        let (control, commands) = mpsc::channel();
        let hosts = outputs.len();
        let state = PortState {
            me,
            input: outputs[me].clone(),
            outputs,
            table,
            registry,
            wake: wake.clone(),
            commands,
            spec,
            pairs: (0..hosts).map(|_| None).collect(),
            active: Vec::new(),
            last: LastRoute::default(),
            seed,
            epoch,
        };
        let thread = std::thread::Builder::new()
            .name(format!("bn-wire-{me}"))
            .spawn(move || state.forward())
            .map_err(Error::sys("spawning a wire port"))?;
        Ok(Self {
            control,
            wake,
            thread: Some(thread),
        })
    }

    fn wake(&self) {
        if let Err(e) = self.wake.write(1) {
            tracing::warn!("waking a wire port: {e}");
        }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // Closing the channel and waking the thread tells it to stop.
        let (dead, _) = mpsc::channel();
        self.control = dead;
        self.wake();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::warn!("a wire port's thread panicked");
            }
        }
    }
}

/// One directed pair of a port: its model and what it is set to.
struct Pair {
    model: NetemModel,
    spec: Impairment,
    counters: Arc<Counters>,
}

/// What a port's thread owns.
struct PortState {
    me: usize,
    input: Arc<OwnedFd>,
    outputs: Arc<[Arc<OwnedFd>]>,
    table: Arc<Table>,
    registry: Arc<PairRegistry>,
    wake: Arc<EventFd>,
    commands: Receiver<Command>,
    spec: PortSpec,
    /// Each destination's pair, once a packet went there.
    pairs: Vec<Option<Box<Pair>>>,
    /// The destinations that have a pair.
    active: Vec<usize>,
    last: LastRoute,
    seed: u64,
    epoch: Instant,
}

/// What woke the forwarder.
struct Woken {
    packets: bool,
    control: bool,
    closed: bool,
}

impl PortState {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Until the control channel closes: deliver what is due, wait for a
    /// packet, a command or the next due time, take what came.
    fn forward(mut self) {
        if let Err(e) = nix::sys::prctl::set_timerslack(1) {
            tracing::debug!("timer slack: {e}");
        }
        realtime_thread("a wire port");
        let mut buf = vec![0u8; VNET_HDR_LEN + MAX_IP + 1];
        let mut segments = Vec::new();
        loop {
            self.deliver_due();
            let woken = match self.wait() {
                Ok(w) => w,
                Err(e) => {
                    tracing::error!("wire ppoll: {e}");
                    return;
                }
            };
            if woken.control && !self.take_commands() {
                return;
            }
            if woken.packets {
                self.read_burst(&mut buf, &mut segments);
            } else if woken.closed {
                tracing::debug!("wire input closed");
                return;
            }
        }
    }

    /// Writes every packet whose time has come, coalesced as a NIC's GRO
    /// would, to its destination's device.
    fn deliver_due(&mut self) {
        let t = self.now();
        for &to in &self.active {
            let pair = self.pairs[to].as_mut().expect("an active pair");
            if pair.model.next_due().map_or(true, |due| due > t) {
                continue;
            }
            let mut due = Vec::new();
            while let Some(packet) = pair.model.dequeue(t) {
                due.push(packet);
            }
            let output = &self.outputs[to];
            for frame in gro::coalesce(due) {
                if frame.segments > 1 {
                    pair.counters
                        .coalesced
                        .fetch_add(frame.segments as u64, Ordering::Relaxed);
                }
                let iov = [IoSlice::new(&frame.hdr), IoSlice::new(&frame.packet)];
                if let Err(e) = nix::sys::uio::writev(output.as_fd(), &iov) {
                    pair.counters
                        .write_errors
                        .fetch_add(frame.segments as u64, Ordering::Relaxed);
                    tracing::debug!("wire write: {e}");
                }
            }
        }
    }

    /// Waits for a packet, a command, or the head of a queue to come due.
    fn wait(&self) -> nix::Result<Woken> {
        let next = self
            .active
            .iter()
            .filter_map(|&to| self.pairs[to].as_ref()?.model.next_due())
            .min();
        let timeout = next.map(|due| {
            TimeSpec::from_duration(std::time::Duration::from_nanos(
                due.saturating_sub(self.now()),
            ))
        });
        let mut fds = [
            PollFd::new(self.input.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.wake.as_fd(), PollFlags::POLLIN),
        ];
        loop {
            match ppoll(&mut fds, timeout, None) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
                Ok(_) => break,
            }
        }
        let input = fds[0].revents().unwrap_or(PollFlags::empty());
        let control = fds[1].revents().is_some_and(|r| !r.is_empty());
        Ok(Woken {
            packets: input.contains(PollFlags::POLLIN),
            control,
            closed: input.intersects(PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL),
        })
    }

    /// Applies the commands that came; false once the channel is closed.
    fn take_commands(&mut self) -> bool {
        let _ = self.wake.read();
        loop {
            match self.commands.try_recv() {
                Ok((spec, taken)) => {
                    let counts = self
                        .active
                        .iter()
                        .filter_map(|&to| {
                            Some(((self.me, to), self.pairs[to].as_ref()?.counters.snapshot()))
                        })
                        .collect();
                    for &to in &self.active {
                        let pair = self.pairs[to].as_mut().expect("an active pair");
                        let new = spec.of(to);
                        if *new != pair.spec {
                            pair.model.set(new);
                            pair.spec = new.clone();
                        }
                    }
                    self.spec = spec;
                    let _ = taken.send((Instant::now(), counts));
                }
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Reads up to [`BURST`] frames, cuts each into the packets it stands
    /// for, and hands every packet to its pair's model on its own. A packet
    /// to an address no host has is dropped, as a switch would.
    fn read_burst(&mut self, buf: &mut [u8], segments: &mut Vec<Vec<u8>>) {
        for _ in 0..BURST {
            let n = match nix::unistd::read(self.input.as_fd(), buf) {
                Ok(n) if n > 0 => n,
                _ => break,
            };
            gso::segment(&buf[..n], segments);
            let now = self.now();
            for packet in segments.drain(..) {
                let Some(to) = destination(&packet).and_then(|a| self.route(a)) else {
                    continue;
                };
                if to == self.me {
                    continue;
                }
                if self.pairs[to].is_none() {
                    let spec = self.spec.of(to).clone();
                    let counters = self.registry.get(self.me, to);
                    self.pairs[to] = Some(Box::new(Pair {
                        model: NetemModel::new(
                            &spec,
                            pair_seed(self.seed, self.me, to),
                            counters.clone(),
                        ),
                        spec,
                        counters,
                    }));
                    self.active.push(to);
                }
                let pair = self.pairs[to].as_mut().expect("made above");
                pair.model.enqueue(packet, now);
            }
        }
    }
}

impl PortState {
    /// The port that has `addr`: the last answer while the table has not
    /// changed since, else the table's.
    fn route(&mut self, addr: Ipv4Addr) -> Option<usize> {
        let generation = self.table.generation.load(Ordering::Acquire);
        if self.last.addr != Some(addr) || self.last.generation != generation {
            self.last = LastRoute {
                generation,
                addr: Some(addr),
                port: self.table.port(addr),
            };
        }
        self.last.port
    }
}

/// The destination address of an IPv4 packet.
fn destination(packet: &[u8]) -> Option<Ipv4Addr> {
    let d: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
    (packet[0] >> 4 == 4).then_some(Ipv4Addr::from(d))
}
