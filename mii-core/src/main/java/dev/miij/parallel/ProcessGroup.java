package dev.miij.parallel;

import dev.miij.MiiException;
import dev.miij.arch.DecoderModel;
import dev.miij.backend.Backend;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.parallel.Wire.Frame;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * A tensor-parallel group whose ranks are processes, on one host or several, joined over TCP:
 * rank 0 listens ({@link #lead}), the others connect to it with their rank ({@link #join}), and
 * the group forms once all have (a barrier: nobody proceeds before everybody is there). The
 * connections form a star around rank 0, which runs the engine: it sends the setup (what to load),
 * each KV-cache size and each step ({@link StepBroadcast}); the others answer when loaded and then
 * follow the steps ({@link #follow}). On the CPU the collectives travel over the same connections
 * ({@link #collective}); a device's own ({@link CollectiveProvider}: NCCL) takes the bytes it needs
 * to meet ({@link #broadcast}) from them.
 *
 * <pre>{@code
 * // rank 0                                          // rank r (another process)
 * ProcessGroup g = ProcessGroup.lead(server, 2, t);  ProcessGroup g = ProcessGroup.join("10.0.0.5", 29500, 1, 2, t);
 * g.sendSetup(Map.of("model", dir));                 Map<String, String> setup = g.awaitSetup();
 * ... load rank 0's slices ...                       ... load rank 1's slices ...; g.ready();
 * g.awaitReady(); model.leadGroup(g);                g.follow(model);
 * }</pre>
 *
 * <p>Failure ends the group, on every rank, within a bounded time: a rank that fails sends its
 * error before it stops, a process that dies closes its connections, and one that hangs or whose
 * host vanishes stops sending the pings every rank sends each second (liveness timeout, 30 s by
 * default). Rank 0 passes the error on to the others; from then on every operation of the group
 * throws a {@link MiiException} naming the rank that failed, and {@link #onFailure} listeners run.
 */
public final class ProcessGroup implements StepBroadcast, GroupChannel, AutoCloseable {

    private static final Logger LOG = Logger.getLogger(ProcessGroup.class.getName());

    /**
     * The environment variable that holds a group's join token: rank 0 admits only ranks that know
     * it. {@link LeadRank#launch} makes one for the processes it starts; pods can share one through
     * a Secret. Unset, the token is empty.
     */
    public static final String TOKEN_ENV = "MII_TP_TOKEN";

    /** Wakes a rank waiting on an inbox when the group fails or closes. */
    private static final Frame WAKE = new Frame((byte) 0, new byte[0]);

    /**
     * How long ranks wait for each other to join, and how long a rank may stay silent before the
     * others give it up (it pings every second, from its own thread, whatever it computes).
     * {@link #defaults()} reads the system properties {@code mii.tp.joinTimeout} and
     * {@code mii.tp.liveness} (seconds): 120 and 30 unless set.
     */
    public record Timeouts(Duration join, Duration liveness) {

        public Timeouts {
            if (join.isNegative() || join.isZero() || liveness.toMillis() < 100) {
                throw new IllegalArgumentException("timeouts " + join + ", " + liveness);
            }
        }

        public static Timeouts defaults() {
            return new Timeouts(Duration.ofSeconds(Long.getLong("mii.tp.joinTimeout", 120)),
                    Duration.ofSeconds(Long.getLong("mii.tp.liveness", 30)));
        }

        public Timeouts withJoin(Duration d) {
            return new Timeouts(d, liveness);
        }

        Duration heartbeat() {
            return liveness.dividedBy(4).compareTo(Duration.ofSeconds(1)) < 0 ? liveness.dividedBy(4) : Duration.ofSeconds(1);
        }
    }

    private final int rank;
    private final int size;
    /** Rank 0: one link per other rank (index = rank, [0] null); other ranks: [0] only. */
    private final Link[] links;
    private final Timeouts timeouts;
    private final List<Consumer<MiiException>> listeners = new CopyOnWriteArrayList<>();
    private final List<Thread> readers = new ArrayList<>();
    private final List<AutoCloseable> owned = new CopyOnWriteArrayList<>();
    private final Thread heartbeat;
    private volatile MiiException failure;
    /** Counted down once a failure has been passed on to the other ranks (and the connections closed). */
    private final java.util.concurrent.CountDownLatch failurePassedOn = new java.util.concurrent.CountDownLatch(1);
    private volatile boolean closing;

    /** One rank's connection to another: frames out under a lock, frames in through a reader thread into an inbox. */
    private static final class Link {
        final int peer;
        final Socket socket;
        final DataInputStream in;
        final DataOutputStream out;
        final ReentrantLock writing = new ReentrantLock();
        final BlockingQueue<Frame> inbox = new LinkedBlockingQueue<>();
        volatile long lastWrite = System.nanoTime();
        /** The peer said STOP (or this side did): its hanging up is no failure. */
        volatile boolean stopped;
        /** Reads this link's frames until the peer hangs up. */
        Thread reader;

        Link(int peer, Socket socket) throws IOException {
            this.peer = peer;
            this.socket = socket;
            socket.setTcpNoDelay(true);
            this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 1 << 16));
            this.out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 1 << 16));
        }

        void send(byte type, byte[] body) throws IOException {
            writing.lock();
            try {
                Wire.write(out, type, body);
                lastWrite = System.nanoTime();
            } finally {
                writing.unlock();
            }
        }

        void closeQuietly() {
            try {
                socket.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }

    private ProcessGroup(int rank, int size, Link[] links, Timeouts timeouts) throws IOException {
        this.rank = rank;
        this.size = size;
        this.links = links;
        this.timeouts = timeouts;
        for (Link l : links()) {
            l.socket.setSoTimeout((int) Math.min(Integer.MAX_VALUE, timeouts.liveness().toMillis()));
            l.reader = Thread.ofPlatform().daemon().name("tensor-parallel-rank-" + rank + "-from-" + l.peer)
                    .start(() -> read(l));
            readers.add(l.reader);
        }
        this.heartbeat = Thread.ofPlatform().daemon().name("tensor-parallel-rank-" + rank + "-heartbeat")
                .start(this::heartbeat);
    }

    // ---- Forming the group ----

    /**
     * Rank 0: waits on {@code server} until ranks 1 to {@code size - 1} have joined, then lets them
     * all proceed. {@code watch} runs while waiting (about four times a second) and may throw to give
     * up early, e.g. when a rank's process has already exited. Closes {@code server}.
     *
     * @throws MiiException naming the ranks missing when the join timeout passes, or the rank that
     *                      joined with a different group size or a rank already taken
     */
    public static ProcessGroup lead(ServerSocket server, int size, Timeouts timeouts, Runnable watch) {
        return lead(server, size, timeouts, "", watch);
    }

    /**
     * As {@link #lead(ServerSocket, int, Timeouts, Runnable)}, admitting only ranks whose join token
     * is {@code token}; a connection with another is told so and turned away, and the wait goes on.
     */
    public static ProcessGroup lead(ServerSocket server, int size, Timeouts timeouts, String token, Runnable watch) {
        if (size < 2) {
            throw new IllegalArgumentException("a group of " + size + " has no other rank to lead");
        }
        Link[] links = new Link[size];
        long deadline = System.nanoTime() + timeouts.join().toNanos();
        String where = server.getInetAddress().getHostAddress() + ":" + server.getLocalPort();
        try (server) {
            server.setSoTimeout(250);
            int joined = 0;
            while (joined < size - 1) {
                watch.run();
                if (System.nanoTime() > deadline) {
                    throw new MiiException(MiiException.Kind.IO, missing(links) + " of the tensor-parallel group of " + size
                            + " did not join rank 0 at " + where + " within " + timeouts.join().toSeconds() + " s");
                }
                Socket s;
                try {
                    s = server.accept();
                } catch (SocketTimeoutException e) {
                    continue;
                }
                Wire.Hello hello = readHello(s);
                if (hello == null) {
                    continue; // not one of ours (a probe, a port scan): ignore it
                }
                if (!java.security.MessageDigest.isEqual(hello.token().getBytes(java.nio.charset.StandardCharsets.UTF_8),
                        token.getBytes(java.nio.charset.StandardCharsets.UTF_8))) {
                    LOG.warning("turned away a connection from " + s.getRemoteSocketAddress() + " that joined as rank "
                            + hello.rank() + " without this group's join token");
                    refuse(s, MiiException.invalid("rank " + hello.rank() + " does not have the join token of the"
                            + " tensor-parallel group at " + where + " (" + TOKEN_ENV + ")"));
                    continue;
                }
                String problem = null;
                if (hello.size() != size) {
                    problem = "rank " + hello.rank() + " joined a tensor-parallel group of " + hello.size()
                            + ", but rank 0 at " + where + " leads a group of " + size;
                } else if (hello.rank() < 1 || hello.rank() >= size) {
                    problem = "a rank " + hello.rank() + " tried to join a tensor-parallel group of " + size;
                } else if (links[hello.rank()] != null) {
                    problem = "two processes joined the tensor-parallel group as rank " + hello.rank();
                }
                if (problem != null) {
                    MiiException e = MiiException.invalid(problem);
                    refuse(s, e);
                    throw e;
                }
                links[hello.rank()] = new Link(hello.rank(), s);
                joined++;
            }
            for (Link l : links) {
                if (l != null) {
                    l.send(Wire.WELCOME, new byte[0]);
                }
            }
            LOG.fine(() -> "rank 0 of " + size + ": every rank joined at " + where);
            return new ProcessGroup(0, size, links, timeouts);
        } catch (RuntimeException | IOException e) {
            MiiException m = e instanceof MiiException me ? me
                    : new MiiException(MiiException.Kind.IO, "rank 0 of the tensor-parallel group could not gather the"
                    + " other ranks at " + where + ": " + e.getMessage(), e);
            for (Link l : links) {
                if (l != null) {
                    refuse(l.socket, m);
                }
            }
            throw m;
        }
    }

    private static String missing(Link[] links) {
        TreeSet<Integer> absent = new TreeSet<>();
        for (int r = 1; r < links.length; r++) {
            if (links[r] == null) {
                absent.add(r);
            }
        }
        return (absent.size() == 1 ? "rank " : "ranks ") + absent.toString().replaceAll("[\\[\\]]", "");
    }

    private static Wire.Hello readHello(Socket s) throws IOException {
        try {
            s.setSoTimeout(5000);
            // Unbuffered: a joining rank sends nothing after its hello until welcomed, but nothing may be lost.
            Frame f = Wire.read(new DataInputStream(s.getInputStream()));
            Wire.Hello h = f.type() == Wire.HELLO ? Wire.hello(f.body()) : null;
            if (h == null) {
                s.close();
            }
            return h;
        } catch (IOException e) {
            s.close();
            return null;
        }
    }

    /** Tells the process on the other end of {@code s} why it cannot be in the group, and hangs up. */
    private static void refuse(Socket s, MiiException why) {
        try (s) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            Wire.write(out, Wire.ERROR, Wire.error(why));
            s.shutdownOutput();
        } catch (IOException e) {
            // it will see the connection close instead
        }
    }

    /**
     * Rank {@code rank} of a group of {@code size}: connects to rank 0 at {@code host:port} (retrying
     * while it is not listening yet, or its name does not resolve yet) and waits until every rank has
     * joined.
     *
     * @throws MiiException when rank 0 cannot be reached or the group does not form within the join
     *                      timeout, or rank 0 refuses this rank (naming why)
     */
    public static ProcessGroup join(String host, int port, int rank, int size, Timeouts timeouts) {
        return join(host, port, rank, size, timeouts, "");
    }

    /** As {@link #join(String, int, int, int, Timeouts)}, with the group's join token. */
    public static ProcessGroup join(String host, int port, int rank, int size, Timeouts timeouts, String token) {
        if (rank < 1 || rank >= size) {
            throw MiiException.invalid("rank " + rank + " cannot join a tensor-parallel group of " + size
                    + " (rank 0 leads it; the others are 1 to " + (size - 1) + ")");
        }
        long deadline = System.nanoTime() + timeouts.join().toNanos();
        String where = host + ":" + port;
        Socket s;
        IOException last;
        while (true) {
            s = new Socket();
            try {
                long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
                s.connect(new InetSocketAddress(host, port), (int) Math.min(left, 5000));
                break;
            } catch (IOException e) {
                last = e;
                try {
                    s.close();
                } catch (IOException ignored) {
                    // a socket that never connected
                }
            }
            if (System.nanoTime() > deadline) {
                throw new MiiException(MiiException.Kind.IO, "rank " + rank + " could not reach rank 0 of the tensor-parallel"
                        + " group at " + where + " within " + timeouts.join().toSeconds() + " s: " + describe(last), last);
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new MiiException(MiiException.Kind.CANCELLED, "interrupted while joining the tensor-parallel group");
            }
        }
        try {
            Link link = new Link(0, s);
            link.send(Wire.HELLO, Wire.hello(rank, size, token));
            long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
            s.setSoTimeout((int) Math.min(Integer.MAX_VALUE, left));
            Frame f;
            try {
                f = Wire.read(link.in);
            } catch (SocketTimeoutException e) {
                throw new MiiException(MiiException.Kind.IO, "rank " + rank + " reached rank 0 at " + where
                        + ", but the tensor-parallel group of " + size + " did not form within "
                        + timeouts.join().toSeconds() + " s (other ranks missing)");
            }
            if (f.type() == Wire.ERROR) {
                throw Wire.error(f.body());
            }
            if (f.type() != Wire.WELCOME) {
                throw new MiiException(MiiException.Kind.INTERNAL, "rank 0 at " + where + " answered rank " + rank
                        + "'s hello with a " + f.typeName() + " frame");
            }
            Link[] links = {link};
            return new ProcessGroup(rank, size, links, timeouts);
        } catch (IOException e) {
            try {
                s.close();
            } catch (IOException ignored) {
                // failing anyway
            }
            throw new MiiException(MiiException.Kind.IO, "rank " + rank + " lost rank 0 of the tensor-parallel group at "
                    + where + " while joining: " + describe(e), e);
        } catch (RuntimeException e) {
            try {
                s.close();
            } catch (IOException ignored) {
                // failing anyway
            }
            throw e;
        }
    }

    private static String describe(IOException e) {
        return e instanceof java.net.UnknownHostException ? "unknown host " + e.getMessage()
                : e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    // ---- The group ----

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public void onFailure(Runnable action) {
        onFailure(e -> action.run());
    }

    /** Runs {@code listener} (once, on some thread of the group) when the group fails; at once if it has. */
    public void onFailure(Consumer<MiiException> listener) {
        listeners.add(listener);
        MiiException f = failure;
        if (f != null && listeners.remove(listener)) {
            listener.accept(f);
        }
    }

    /** The failure that ended the group, or null. */
    public MiiException failure() {
        return failure;
    }

    /**
     * Ends the group because this rank failed: the others learn {@code cause}'s message, with this
     * rank named, and stop. Returns the exception they get.
     */
    public MiiException abort(Throwable cause) {
        MiiException.Kind kind = cause instanceof MiiException m ? m.kind() : MiiException.Kind.INTERNAL;
        String message = cause.getMessage() == null ? cause.toString() : cause.getMessage();
        MiiException e = new MiiException(kind, "rank " + rank + " of the tensor-parallel group failed: " + message, cause);
        fail(e, rank);
        return e;
    }

    /**
     * The collective of this rank for tensors on {@code backend}: a provider's (NCCL), or this group's
     * connections on the CPU. Every rank calls this at the same point. A provider's collective that
     * holds resources ({@link AutoCloseable}) is closed with the group.
     */
    public Collective collective(Backend backend) {
        checkFailure();
        for (CollectiveProvider p : ServiceLoader.load(CollectiveProvider.class)) {
            if (p.supports(backend)) {
                Collective c = p.create(backend, this);
                if (c instanceof AutoCloseable a) {
                    owned.add(a);
                }
                return c;
            }
        }
        if ("cpu".equals(backend.name())) {
            return new SocketCollective(this, backend);
        }
        throw MiiException.unsupported("tensor parallelism on the " + backend.name() + " backend needs its collective"
                + " library, and none is on the class path");
    }

    @Override
    public byte[] broadcast(byte[] data) {
        if (rank == 0) {
            sendAll(Wire.BROADCAST, data);
            return data;
        }
        return take(links[0], Wire.BROADCAST).body();
    }

    @Override
    public void barrier() {
        if (rank == 0) {
            for (Link l : links()) {
                take(l, Wire.BARRIER);
            }
            sendAll(Wire.BARRIER, new byte[0]);
        } else {
            send(links[0], Wire.BARRIER, new byte[0]);
            take(links[0], Wire.BARRIER);
        }
    }

    /** Rank 0: tells every other rank what to load (keys and values are the launcher's business). */
    public void sendSetup(Map<String, String> setup) {
        sendAll(Wire.SETUP, Wire.strings(setup));
    }

    /** Ranks 1..: what rank 0 says to load. */
    public Map<String, String> awaitSetup() {
        return Wire.strings(take(links[0], Wire.SETUP).body());
    }

    /** Ranks 1..: this rank has loaded its slices and follows from now on. */
    public void ready() {
        send(links[0], Wire.READY, new byte[0]);
    }

    /** Rank 0: waits until every other rank has loaded ({@link #ready}). */
    public void awaitReady() {
        for (Link l : links()) {
            take(l, Wire.READY);
        }
    }

    @Override
    public void kvCache(int numBlocks, int blockSize) {
        sendAll(Wire.KV_CACHE, Wire.kvCache(numBlocks, blockSize));
    }

    @Override
    public void step(RaggedBatch batch) {
        sendAll(Wire.STEP, Wire.batch(batch));
    }

    /**
     * Ranks 1..: runs every step rank 0 announces on {@code model} (this rank's slices), in its own
     * KV cache, until rank 0 stops the group. A failure here ends the group with this rank named.
     */
    public void follow(DecoderModel model) {
        KvCache cache = null;
        try {
            while (true) {
                Frame f = take(links[0], (byte) -1);
                switch (f.type()) {
                    case Wire.KV_CACHE -> {
                        int[] kv = Wire.kvCache(f.body());
                        if (cache != null) {
                            cache.close();
                            cache = null;
                        }
                        cache = model.newKvCache(kv[0], kv[1]);
                    }
                    case Wire.STEP -> {
                        if (cache == null) {
                            throw new MiiException(MiiException.Kind.INTERNAL, "rank 0 sent a step before any KV-cache size");
                        }
                        model.forward(Wire.batch(f.body()), cache);
                    }
                    case Wire.STOP -> {
                        return;
                    }
                    default -> throw new MiiException(MiiException.Kind.INTERNAL, "rank 0 sent a " + f.typeName()
                            + " frame between steps");
                }
            }
        } catch (RuntimeException e) {
            MiiException f = failure;
            if (f != null) {
                throw new MiiException(f.kind(), f.getMessage(), f);
            }
            throw abort(e);
        } finally {
            if (cache != null) {
                cache.close();
            }
        }
    }

    // ---- Collective data (SocketCollective) ----

    void sendData(int to, float[] values, int n) {
        send(link(to), Wire.DATA, Wire.floats(values, n));
    }

    float[] takeData(int from) {
        return Wire.floats(take(link(from), Wire.DATA).body());
    }

    private Link link(int peer) {
        Link l = rank == 0 ? links[peer] : peer == 0 ? links[0] : null;
        if (l == null) {
            throw new IllegalArgumentException("rank " + rank + " has no connection to rank " + peer);
        }
        return l;
    }

    private List<Link> links() {
        List<Link> out = new ArrayList<>();
        for (Link l : links) {
            if (l != null) {
                out.add(l);
            }
        }
        return out;
    }

    private void sendAll(byte type, byte[] body) {
        if (rank != 0) {
            throw new IllegalStateException("only rank 0 sends to the whole group");
        }
        for (Link l : links()) {
            send(l, type, body);
        }
    }

    private void send(Link l, byte type, byte[] body) {
        checkFailure();
        try {
            l.send(type, body);
        } catch (IOException e) {
            fail(disconnected(l.peer, e), l.peer);
            checkFailure();
            throw new MiiException(MiiException.Kind.CANCELLED, "the tensor-parallel group was closed");
        }
    }

    /** The next frame from {@code l}, which must be of type {@code expected} (-1: any). */
    private Frame take(Link l, byte expected) {
        while (true) {
            checkFailure();
            Frame f;
            try {
                f = l.inbox.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new MiiException(MiiException.Kind.CANCELLED, "interrupted while waiting for rank " + l.peer
                        + " of the tensor-parallel group");
            }
            if (f == null) {
                continue;
            }
            if (f == WAKE) {
                l.inbox.add(WAKE); // for any later take
                checkFailure();
                throw new MiiException(MiiException.Kind.CANCELLED, "the tensor-parallel group was closed");
            }
            if (expected >= 0 && f.type() != expected) {
                MiiException e = new MiiException(MiiException.Kind.INTERNAL, "rank " + rank + " expected a "
                        + Wire.name(expected) + " frame from rank " + l.peer + " and got a " + f.typeName()
                        + " frame (the ranks are out of step: one of them failed in the middle of a step)");
                fail(e, rank);
                throw e;
            }
            return f;
        }
    }

    private void checkFailure() {
        MiiException f = failure;
        if (f != null) {
            throw new MiiException(f.kind(), f.getMessage(), f);
        }
        if (closing) {
            throw new MiiException(MiiException.Kind.CANCELLED, "the tensor-parallel group was closed");
        }
    }

    private void read(Link l) {
        try {
            while (true) {
                Frame f = Wire.read(l.in);
                switch (f.type()) {
                    case Wire.PING -> {
                    }
                    case Wire.ERROR -> {
                        fail(Wire.error(f.body()), l.peer);
                        return;
                    }
                    case Wire.STOP -> {
                        l.stopped = true;
                        l.inbox.add(f);
                    }
                    default -> l.inbox.add(f);
                }
            }
        } catch (SocketTimeoutException e) {
            if (!closing && !l.stopped) {
                fail(new MiiException(MiiException.Kind.IO, "rank " + l.peer + " of the tensor-parallel group sent nothing"
                        + " for " + timeouts.liveness().toSeconds() + " s (its process hangs, or its host is unreachable)"),
                        l.peer);
            }
        } catch (IOException e) {
            if (!closing && !l.stopped) {
                fail(disconnected(l.peer, e), l.peer);
            }
        }
    }

    private static MiiException disconnected(int peer, IOException e) {
        String how = e instanceof java.io.EOFException ? "" : " (" + describe(e) + ")";
        return new MiiException(MiiException.Kind.IO, "rank " + peer + " of the tensor-parallel group disconnected" + how
                + ": its process ended or its connection broke", e);
    }

    private void heartbeat() {
        long interval = timeouts.heartbeat().toNanos();
        while (!closing && failure == null) {
            try {
                Thread.sleep(Duration.ofNanos(interval));
            } catch (InterruptedException e) {
                return;
            }
            for (Link l : links()) {
                if (System.nanoTime() - l.lastWrite < interval || closing || !l.writing.tryLock()) {
                    continue; // frames went out lately, or are going out now
                }
                try {
                    Wire.write(l.out, Wire.PING, new byte[0]);
                    l.lastWrite = System.nanoTime();
                } catch (IOException e) {
                    if (!closing && !l.stopped) {
                        fail(disconnected(l.peer, e), l.peer);
                    }
                } finally {
                    l.writing.unlock();
                }
            }
        }
    }

    /**
     * Ends the group with {@code e} (the first failure wins): the other ranks get it (rank 0 passes a
     * rank's failure on to the rest), every connection closes, waiting ranks wake and listeners run.
     */
    private void fail(MiiException e, int culprit) {
        synchronized (this) {
            if (failure != null || closing) {
                return;
            }
            failure = e;
        }
        LOG.fine(() -> "rank " + rank + ": the tensor-parallel group failed: " + e.getMessage());
        byte[] body = Wire.error(e);
        List<Thread> senders = new ArrayList<>();
        for (Link l : links()) {
            if (l.peer != culprit) {
                senders.add(Thread.ofVirtual().start(() -> {
                    try {
                        l.send(Wire.ERROR, body);
                        l.socket.shutdownOutput();
                    } catch (IOException ignored) {
                        // that rank is gone too
                    }
                }));
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        List<Thread> waits = new ArrayList<>(senders);
        // Then until those ranks hang up, having read it: closing first could reset the connection
        // and lose the error on the way.
        for (Link l : links()) {
            if (l.peer != culprit && l.reader != Thread.currentThread()) {
                waits.add(l.reader);
            }
        }
        for (Thread t : waits) {
            try {
                t.join(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (Link l : links()) {
            l.closeQuietly();
            l.inbox.add(WAKE);
        }
        failurePassedOn.countDown();
        for (Consumer<MiiException> listener : listeners) {
            if (listeners.remove(listener)) {
                try {
                    listener.accept(e);
                } catch (RuntimeException ex) {
                    LOG.warning("a tensor-parallel failure listener failed: " + ex);
                }
            }
        }
    }

    /**
     * Ends the group in order. On rank 0: the others stop after the steps already sent, and exit;
     * this waits a few seconds for them to hang up. On other ranks: hangs up.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closing) {
                return;
            }
            closing = true;
        }
        if (failure != null) {
            // A rank that failed, or noticed a failure, is still telling the others: let it finish first.
            try {
                failurePassedOn.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        heartbeat.interrupt();
        if (failure == null && rank == 0) {
            for (Link l : links()) {
                try {
                    l.send(Wire.STOP, new byte[0]);
                    l.socket.shutdownOutput();
                } catch (IOException e) {
                    // gone already
                }
            }
            // Each reader ends when its rank hangs up, having read the stop.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            for (Thread t : readers) {
                try {
                    t.join(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        for (Link l : links()) {
            l.stopped = true;
            l.closeQuietly();
            l.inbox.add(WAKE);
        }
        for (AutoCloseable a : owned) {
            try {
                a.close();
            } catch (Exception e) {
                LOG.warning("closing a tensor-parallel collective failed: " + e);
            }
        }
    }
}
