//! The userspace link: two TUN devices, one in each host, and a
//! [`Forwarder`] per direction that moves packets between them through a
//! [`NetemModel`].
//!
//! Each forwarder is a thread that waits in `ppoll` (nanosecond timeouts,
//! timer slack 1 ns) for either a packet or the head of its queue to come
//! due, so delays are accurate to tens of microseconds, not to a
//! millisecond timer tick. It runs in the real-time class where permitted,
//! so busy processes beside it do not delay it, and counts how late each
//! packet left against its schedule (`late_*_us` in its counters).

use std::io::IoSlice;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::time::TimeSpec;

use crate::lab::direction::Way;
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

/// A running link between two TUN descriptors: one forwarder each way.
#[derive(Debug)]
pub struct Wire {
    forwarders: [Forwarder; 2],
}

/// A new impairment for a forwarder, and where it says when it took it.
type Command = (Impairment, SyncSender<(Instant, CounterSnapshot)>);

/// How long [`Wire::set`] waits for a forwarder to take a command.
const TAKE_LIMIT: Duration = Duration::from_secs(1);

/// One direction's thread, and how to reach it.
#[derive(Debug)]
struct Forwarder {
    control: Sender<Command>,
    wake: Arc<EventFd>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

impl Wire {
    /// Starts forwarding `a -> b` under `forward` and `b -> a` under
    /// `reverse`. `seed` seeds both directions (differently) unless a spec
    /// carries its own.
    pub fn start(
        a: OwnedFd,
        b: OwnedFd,
        forward: &Impairment,
        reverse: &Impairment,
        seed: u64,
    ) -> Result<Self> {
        let (a, b) = (Arc::new(a), Arc::new(b));
        let epoch = Instant::now();
        let fwd = Forwarder::spawn("bn-wire-fwd", a.clone(), b.clone(), forward, seed, epoch)?;
        let rev = Forwarder::spawn(
            "bn-wire-rev",
            b,
            a,
            reverse,
            seed.rotate_left(32) ^ 0x5bd1_e995,
            epoch,
        )?;
        Ok(Self {
            forwarders: [fwd, rev],
        })
    }

    /// Changes the impairment of one way while traffic flows, and returns
    /// the moment its forwarder took the new one (packets it reads from
    /// then on meet it) with its counters at that moment: what the old one
    /// did, exactly. A forwarder that has stopped, or that does not answer
    /// within a second, is an error.
    pub fn set(&self, way: Way, spec: &Impairment) -> Result<(Instant, CounterSnapshot)> {
        let f = &self.forwarders[way.index()];
        let (taken, at) = mpsc::sync_channel(1);
        f.control.send((spec.clone(), taken)).map_err(|_| {
            Error::sys("telling the wire forwarder")(std::io::ErrorKind::BrokenPipe.into())
        })?;
        f.wake();
        at.recv_timeout(TAKE_LIMIT).map_err(|_| {
            Error::sys(format!(
                "the wire forwarder taking a new impairment within {TAKE_LIMIT:?}"
            ))(std::io::ErrorKind::TimedOut.into())
        })
    }

    /// What one way did so far.
    pub fn counters(&self, way: Way) -> CounterSnapshot {
        self.forwarders[way.index()].counters.snapshot()
    }
}

impl Forwarder {
    fn spawn(
        name: &str,
        input: Arc<OwnedFd>,
        output: Arc<OwnedFd>,
        spec: &Impairment,
        seed: u64,
        epoch: Instant,
    ) -> Result<Self> {
        let wake = EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(|e| Error::sys("eventfd")(e.into()))?;
        let wake = Arc::new(wake);
        let counters = Arc::new(Counters::default());
        let (control, commands) = mpsc::channel();
        let model = NetemModel::new(spec, seed, counters.clone());
        let run = Run {
            input,
            output,
            wake: wake.clone(),
            commands,
            model,
            counters: counters.clone(),
            epoch,
        };
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run.forward())
            .map_err(Error::sys("spawning the forwarder"))?;
        Ok(Self {
            control,
            wake,
            counters,
            thread: Some(thread),
        })
    }

    fn wake(&self) {
        if let Err(e) = self.wake.write(1) {
            tracing::warn!("waking a wire forwarder: {e}");
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        // Closing the channel and waking the thread tells it to stop.
        let (dead, _) = mpsc::channel();
        self.control = dead;
        self.wake();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::warn!("a wire forwarder thread panicked");
            }
        }
    }
}

/// What a forwarder's thread owns.
struct Run {
    input: Arc<OwnedFd>,
    output: Arc<OwnedFd>,
    wake: Arc<EventFd>,
    commands: Receiver<Command>,
    model: NetemModel,
    counters: Arc<Counters>,
    epoch: Instant,
}

/// What woke the forwarder.
struct Woken {
    packets: bool,
    control: bool,
    closed: bool,
}

impl Run {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Until the control channel closes: deliver what is due, wait for a
    /// packet, a command or the next due time, take what came.
    fn forward(mut self) {
        if let Err(e) = nix::sys::prctl::set_timerslack(1) {
            tracing::debug!("timer slack: {e}");
        }
        realtime_thread("the forwarder");
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
    /// would.
    fn deliver_due(&mut self) {
        let t = self.now();
        let mut due = Vec::new();
        while let Some(packet) = self.model.dequeue(t) {
            due.push(packet);
        }
        for frame in gro::coalesce(due) {
            if frame.segments > 1 {
                self.counters
                    .coalesced
                    .fetch_add(frame.segments as u64, Ordering::Relaxed);
            }
            let iov = [IoSlice::new(&frame.hdr), IoSlice::new(&frame.packet)];
            if let Err(e) = nix::sys::uio::writev(self.output.as_fd(), &iov) {
                self.counters
                    .write_errors
                    .fetch_add(frame.segments as u64, Ordering::Relaxed);
                tracing::debug!("wire write: {e}");
            }
        }
    }

    /// Waits for a packet, a command, or the head of the queue to come due.
    fn wait(&self) -> nix::Result<Woken> {
        let timeout = self.model.next_due().map(|due| {
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
                    let counts = self.counters.snapshot();
                    self.model.set(&spec);
                    let _ = taken.send((Instant::now(), counts));
                }
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Reads up to [`BURST`] frames, cuts each into the packets it stands
    /// for, and hands every packet to the model on its own.
    fn read_burst(&mut self, buf: &mut [u8], segments: &mut Vec<Vec<u8>>) {
        for _ in 0..BURST {
            let n = match nix::unistd::read(self.input.as_fd(), buf) {
                Ok(n) if n > 0 => n,
                _ => break,
            };
            gso::segment(&buf[..n], segments);
            let now = self.now();
            for packet in segments.drain(..) {
                self.model.enqueue(packet, now);
            }
        }
    }
}
