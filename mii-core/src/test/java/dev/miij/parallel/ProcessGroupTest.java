package dev.miij.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import dev.miij.backend.Tensor;
import dev.miij.backend.cpu.CpuBackend;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The TCP group with its ranks as threads of this process: it forms, carries the setup, bytes, and
 * the CPU collectives (sums and gathers in rank order, as the in-process group computes them), and a
 * rank that disconnects, fails, falls silent or never joins ends the group on every rank with an
 * error naming it, within a bounded time.
 */
@Timeout(60)
class ProcessGroupTest {

    static final ProcessGroup.Timeouts FAST = new ProcessGroup.Timeouts(Duration.ofSeconds(10), Duration.ofSeconds(2));

    final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void stop() {
        pool.shutdownNow();
    }

    static ServerSocket listen() throws IOException {
        return new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
    }

    /** Rank 0 leads on {@code server}; ranks 1..size-1 join; each runs {@code body}. */
    List<Future<Object>> group(int size, ProcessGroup.Timeouts t, RankBody body) throws IOException {
        ServerSocket server = listen();
        int port = server.getLocalPort();
        List<Future<Object>> out = new ArrayList<>();
        out.add(pool.submit(() -> {
            try (ProcessGroup g = ProcessGroup.lead(server, size, t, () -> { })) {
                return body.run(g);
            }
        }));
        for (int r = 1; r < size; r++) {
            int rank = r;
            out.add(pool.submit(() -> {
                try (ProcessGroup g = ProcessGroup.join("127.0.0.1", port, rank, size, t)) {
                    return body.run(g);
                }
            }));
        }
        return out;
    }

    interface RankBody {
        Object run(ProcessGroup g) throws Exception;
    }

    @Test
    void collectivesSumAndGatherInRankOrderOverTcp() throws Exception {
        int size = 3;
        List<Future<Object>> ranks = group(size, FAST, g -> {
            int rank = g.rank();
            Map<String, String> setup = Map.of("model", "/models/x", "device", "cpu");
            if (rank == 0) {
                g.sendSetup(setup);
            } else {
                assertEquals(setup, g.awaitSetup());
            }
            assertArrayEquals(new byte[] {7, 1, 2}, g.broadcast(rank == 0 ? new byte[] {7, 1, 2} : null));
            CpuBackend b = new CpuBackend();
            Collective c = g.collective(b);
            assertEquals(rank, c.rank());
            assertEquals(size, c.size());
            Tensor x = b.upload(new float[] {rank, 10 * rank, 1, 0.1f * rank}, 2, 2);
            c.allReduceSum(x);
            // The sum in rank order, as InProcessGroup adds: 0 + r0 + r1 + r2.
            assertArrayEquals(new float[] {3, 30, 3, 0f + 0f + 0.1f + 0.2f}, b.toHost(x));
            // Rank r holds r + 1 columns of 2 rows (uneven, as vocabulary slices may be).
            float[] local = new float[2 * (rank + 1)];
            java.util.Arrays.fill(local, rank);
            Tensor out = b.allocate(2, 6);
            c.gatherColumns(b.upload(local, 2, rank + 1), out);
            assertArrayEquals(new float[] {0, 1, 1, 2, 2, 2, 0, 1, 1, 2, 2, 2}, b.toHost(out));
            if (rank > 0) {
                g.follow(null); // a follower hangs up only when rank 0 stops the group; nothing else comes here
            }
            return null;
        });
        for (Future<Object> f : ranks) {
            f.get(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void aRankThatFailsEndsTheGroupOnEveryRankWithItsReason() throws Exception {
        List<Future<Object>> ranks = group(3, FAST, g -> {
            if (g.rank() == 1) {
                throw g.abort(MiiException.notFound("model folder /nowhere does not exist"));
            }
            CpuBackend b = new CpuBackend();
            g.collective(b).allReduceSum(b.allocate(1, 4)); // waits for rank 1, which never comes
            return null;
        });
        for (int r = 0; r < 3; r++) {
            MiiException e = failure(ranks.get(r));
            assertTrue(e.getMessage().contains("rank 1 of the tensor-parallel group failed: model folder /nowhere"),
                    "rank " + r + ": " + e.getMessage());
            assertEquals(MiiException.Kind.NOT_FOUND, e.kind(), "the kind travels with the message");
        }
    }

    @Test
    void aRankThatDisconnectsIsNamedOnEveryRank() throws Exception {
        ServerSocket server = listen();
        int port = server.getLocalPort();
        Future<Object> rank0 = pool.submit(rankInCollective(() -> ProcessGroup.lead(server, 3, FAST, () -> { })));
        Future<Object> rank1 = pool.submit(rankInCollective(() -> ProcessGroup.join("127.0.0.1", port, 1, 3, FAST)));
        long t0 = System.nanoTime();
        try (Socket fake = fakeRank(port, 2, 3)) {
            Thread.sleep(300); // the others are waiting in their all-reduce
        } // rank 2's process "dies": its connection closes
        for (Future<Object> f : List.of(rank0, rank1)) {
            MiiException e = failure(f);
            assertTrue(e.getMessage().contains("rank 2 of the tensor-parallel group disconnected"), e.getMessage());
        }
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5), "noticed at once, not after a timeout");
    }

    @Test
    void aSilentRankIsGivenUpAfterTheLivenessTimeout() throws Exception {
        ServerSocket server = listen();
        int port = server.getLocalPort();
        Future<Object> rank0 = pool.submit(rankInCollective(() -> ProcessGroup.lead(server, 2, FAST, () -> { })));
        long t0 = System.nanoTime();
        try (Socket fake = fakeRank(port, 1, 2)) { // joins, then never sends a thing (a frozen process)
            MiiException e = failure(rank0);
            assertTrue(e.getMessage().contains("rank 1 of the tensor-parallel group sent nothing for 2 s"), e.getMessage());
        }
        long waited = System.nanoTime() - t0;
        assertTrue(waited > TimeUnit.MILLISECONDS.toNanos(1500) && waited < TimeUnit.SECONDS.toNanos(8), waited / 1e9 + " s");
    }

    @Test
    void rank0ThatDiesEndsTheFollowers() throws Exception {
        ServerSocket server = listen();
        int port = server.getLocalPort();
        Future<Object> rank1 = pool.submit(() -> {
            try (ProcessGroup g = ProcessGroup.join("127.0.0.1", port, 1, 2, FAST)) {
                return g.awaitSetup(); // rank 0 vanishes instead
            }
        });
        try (Socket s = server.accept()) {
            DataInputStream in = new DataInputStream(s.getInputStream());
            assertEquals(Wire.HELLO, Wire.read(in).type());
            Wire.write(new DataOutputStream(s.getOutputStream()), Wire.WELCOME, new byte[0]);
        }
        server.close();
        MiiException e = failure(rank1);
        assertTrue(e.getMessage().contains("rank 0 of the tensor-parallel group disconnected"), e.getMessage());
    }

    @Test
    void aRankThatNeverJoinsIsNamedAfterTheJoinTimeout() throws Exception {
        ProcessGroup.Timeouts t = FAST.withJoin(Duration.ofSeconds(1));
        ServerSocket server = listen();
        int port = server.getLocalPort();
        Future<Object> rank0 = pool.submit(() -> ProcessGroup.lead(server, 3, t, () -> { }));
        Future<Object> rank1 = pool.submit(() -> ProcessGroup.join("127.0.0.1", port, 1, 3, FAST));
        MiiException e0 = failure(rank0);
        assertTrue(e0.getMessage().contains("rank 2 of the tensor-parallel group of 3 did not join"), e0.getMessage());
        MiiException e1 = failure(rank1);
        assertTrue(e1.getMessage().contains("rank 2"), "rank 1 learns who was missing: " + e1.getMessage());
    }

    @Test
    void aRankOfAnotherGroupSizeIsRefused() throws Exception {
        ServerSocket server = listen();
        int port = server.getLocalPort();
        Future<Object> rank0 = pool.submit(() -> ProcessGroup.lead(server, 2, FAST, () -> { }));
        Future<Object> rank1 = pool.submit(() -> ProcessGroup.join("127.0.0.1", port, 1, 3, FAST));
        for (Future<Object> f : List.of(rank0, rank1)) {
            MiiException e = failure(f);
            assertTrue(e.getMessage().contains("rank 1 joined a tensor-parallel group of 3, but rank 0"), e.getMessage());
        }
    }

    @Test
    void aConnectionWithoutTheJoinTokenIsTurnedAwayAndTheRankWithItJoins() throws Exception {
        ServerSocket server = listen();
        int port = server.getLocalPort();
        Future<Object> rank0 = pool.submit(() -> {
            try (ProcessGroup g = ProcessGroup.lead(server, 2, FAST, "s3cret", () -> { })) {
                return g.broadcast(new byte[] {42})[0];
            }
        });
        MiiException e = assertThrows(MiiException.class, () -> ProcessGroup.join("127.0.0.1", port, 1, 2, FAST, "guess"));
        assertTrue(e.getMessage().contains("rank 1 does not have the join token of the tensor-parallel group"), e.getMessage());
        try (ProcessGroup g = ProcessGroup.join("127.0.0.1", port, 1, 2, FAST, "s3cret")) {
            assertEquals(42, g.broadcast(null)[0]);
            g.follow(null); // until rank 0 stops the group
        }
        assertEquals((byte) 42, rank0.get(10, TimeUnit.SECONDS));
    }

    @Test
    void anUnreachableRank0IsReportedAfterTheJoinTimeout() throws Exception {
        int port;
        try (ServerSocket s = listen()) {
            port = s.getLocalPort(); // nothing listens there any more
        }
        MiiException e = assertThrows(MiiException.class,
                () -> ProcessGroup.join("127.0.0.1", port, 1, 2, FAST.withJoin(Duration.ofSeconds(1))));
        assertTrue(e.getMessage().contains("rank 1 could not reach rank 0 of the tensor-parallel group at 127.0.0.1:" + port),
                e.getMessage());
    }

    @Test
    void aLauncherThatGivesUpWhileWaitingEndsTheJoinedRanks() throws Exception {
        ServerSocket server = listen();
        int port = server.getLocalPort();
        Future<Object> rank1 = pool.submit(() -> ProcessGroup.join("127.0.0.1", port, 1, 3, FAST));
        Thread.sleep(500);
        MiiException gone = new MiiException(MiiException.Kind.IO, "rank 2 (pid 42) exited with code 1 before it joined rank 0");
        long start = System.nanoTime();
        MiiException e0 = assertThrows(MiiException.class, () -> ProcessGroup.lead(server, 3, FAST, () -> {
            if (System.nanoTime() - start > TimeUnit.SECONDS.toNanos(1)) { // rank 1 has been let in by then
                throw gone;
            }
        }));
        assertEquals(gone, e0);
        MiiException e1 = failure(rank1);
        assertTrue(e1.getMessage().contains("rank 2 (pid 42) exited"), e1.getMessage());
    }

    /** A rank that forms its group, then meets the others in an all-reduce. */
    static Callable<Object> rankInCollective(Callable<ProcessGroup> form) {
        return () -> {
            try (ProcessGroup g = form.call()) {
                CpuBackend b = new CpuBackend();
                g.collective(b).allReduceSum(b.allocate(1, 4));
                return null;
            }
        };
    }

    /** A raw connection that says hello as rank {@code rank} of {@code size} and waits to be welcomed. */
    static Socket fakeRank(int port, int rank, int size) throws IOException {
        Socket s = new Socket("127.0.0.1", port);
        Wire.write(new DataOutputStream(s.getOutputStream()), Wire.HELLO, Wire.hello(rank, size, ""));
        // The welcome comes once every rank has joined.
        assertEquals(Wire.WELCOME, Wire.read(new DataInputStream(s.getInputStream())).type());
        return s;
    }

    static MiiException failure(Future<?> f) throws InterruptedException {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(20, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof MiiException, String.valueOf(e.getCause()));
        return (MiiException) e.getCause();
    }
}
