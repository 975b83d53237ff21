package dev.miij.server.grpc;

import java.util.List;

/**
 * The load balancer's choice: the healthy replica with the fewest prompts in flight. Ties rotate
 * (the caller advances {@code start} on each pick) so that an idle deployment spreads requests
 * over every replica instead of piling them on the first.
 *
 * <pre>{@code
 * int i = LeastOutstanding.choose(replicas, picks++);   // -1 when no replica is up
 * }</pre>
 */
public final class LeastOutstanding {

    /** What the choice looks at. */
    public interface Candidate {
        boolean up();

        /** Prompts sent to this replica and not answered yet. */
        int outstanding();
    }

    private LeastOutstanding() {
    }

    /** Index of the chosen candidate, or -1 if none is up. */
    public static int choose(List<? extends Candidate> candidates, int start) {
        int n = candidates.size();
        if (n == 0) {
            return -1;
        }
        int first = Math.floorMod(start, n);
        int best = -1;
        int bestLoad = Integer.MAX_VALUE;
        for (int k = 0; k < n; k++) {
            int i = (first + k) % n;
            Candidate c = candidates.get(i);
            if (c.up() && c.outstanding() < bestLoad) {
                best = i;
                bestLoad = c.outstanding();
            }
        }
        return best;
    }
}
