package dev.miij.cli;

import dev.miij.parallel.ProcessGroup;
import dev.miij.parallel.RankMain;
import dev.miij.server.deploy.GroupRendezvous;
import dev.miij.server.deploy.LogSetup;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mii worker}: a worker pod of a LeaderWorkerSet group (a replica across nodes). It reads its
 * place in the group ({@link GroupRendezvous}). With {@code --tensor-parallel N} it is rank
 * {@code LWS_WORKER_INDEX} of the leader's tensor-parallel group of N (one rank per pod, so N is
 * {@code LWS_GROUP_SIZE}): it joins the leader at {@code LWS_LEADER_ADDRESS:MII_RENDEZVOUS_PORT},
 * loads its slices of the model the leader names and follows the leader's steps ({@link RankMain});
 * {@code MII_TP_TOKEN}, when set (from a Secret), is the group's join token.
 * Without it, it holds its node's GPUs for the group until stopped, and the leader serves alone.
 */
@Command(name = "worker", mixinStandardHelpOptions = true, hidden = true,
        description = "Worker pod of a replica that spans nodes (run by the chart of 'mii k8s'; not for direct use).")
final class WorkerCommand implements Callable<Integer> {

    private static final Logger LOG = Logger.getLogger(WorkerCommand.class.getName());

    /** How long a worker pod waits for its leader to listen, unless mii.tp.joinTimeout says otherwise: pods start apart. */
    static final Duration POD_JOIN_TIMEOUT = Duration.ofMinutes(10);

    @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL", description = "The group's model.")
    String model;

    @Option(names = "--tensor-parallel", paramLabel = "N",
            description = "Join the leader's tensor-parallel group of N ranks (N = LWS_GROUP_SIZE) and follow its steps.")
    int tensorParallel = 1;

    @Override
    public Integer call() throws InterruptedException {
        LogSetup.install("worker", false);
        GroupRendezvous g = GroupRendezvous.fromEnvironment(System.getenv());
        if (g.leader()) {
            System.err.println("error: rank 0 is the leader, which runs 'mii serve'; a worker has " + GroupRendezvous.WORKER_INDEX + " >= 1");
            return 2;
        }
        if (tensorParallel > 1) {
            return followLeader(System.getenv(), tensorParallel, System.err, true);
        }
        LOG.info("worker rank " + g.rank() + " of " + g.worldSize() + " for " + model + ", leader " + g.leaderAddress()
                + ":" + g.port() + "; serving is done by the leader until tensor parallelism spans nodes");
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown, "mii-worker-stop"));
        stop.await();
        return 0;
    }

    /**
     * Rank {@code LWS_WORKER_INDEX} of a tensor-parallel group of {@code size}, found through the
     * LeaderWorkerSet variables in {@code env}; returns the exit code.
     */
    static int followLeader(Map<String, String> env, int size, PrintStream err, boolean exitOnFailure) {
        GroupRendezvous g = GroupRendezvous.fromEnvironment(env);
        if (g.worldSize() != size) {
            err.println("error: --tensor-parallel " + size + " runs one rank per pod, but the group has "
                    + g.worldSize() + " pods (" + GroupRendezvous.GROUP_SIZE + ")");
            return 2;
        }
        ProcessGroup.Timeouts t = ProcessGroup.Timeouts.defaults();
        if (System.getProperty("mii.tp.joinTimeout") == null) {
            t = t.withJoin(POD_JOIN_TIMEOUT);
        }
        return RankMain.run(g.leaderAddress(), g.port(), g.rank(), size, env.getOrDefault(ProcessGroup.TOKEN_ENV, ""), t,
                err, exitOnFailure);
    }
}
