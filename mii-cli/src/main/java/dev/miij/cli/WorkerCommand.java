package dev.miij.cli;

import dev.miij.server.deploy.GroupRendezvous;
import dev.miij.server.deploy.LogSetup;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code mii worker}: a worker pod of a LeaderWorkerSet group (a replica across nodes). It reads its
 * place in the group ({@link GroupRendezvous}) and holds its node's GPUs for the group until stopped;
 * the leader serves. Ranks that compute across nodes come with tensor parallelism across nodes.
 */
@Command(name = "worker", mixinStandardHelpOptions = true, hidden = true,
        description = "Worker pod of a replica that spans nodes (run by the chart of 'mii k8s'; not for direct use).")
final class WorkerCommand implements Callable<Integer> {

    private static final Logger LOG = Logger.getLogger(WorkerCommand.class.getName());

    @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL", description = "The group's model.")
    String model;

    @Override
    public Integer call() throws InterruptedException {
        LogSetup.install("worker", false);
        GroupRendezvous g = GroupRendezvous.fromEnvironment(System.getenv());
        if (g.leader()) {
            System.err.println("error: rank 0 is the leader, which runs 'mii serve'; a worker has " + GroupRendezvous.WORKER_INDEX + " >= 1");
            return 2;
        }
        LOG.info("worker rank " + g.rank() + " of " + g.worldSize() + " for " + model + ", leader " + g.leaderAddress()
                + ":" + g.port() + "; serving is done by the leader until tensor parallelism spans nodes");
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown, "mii-worker-stop"));
        stop.await();
        return 0;
    }
}
