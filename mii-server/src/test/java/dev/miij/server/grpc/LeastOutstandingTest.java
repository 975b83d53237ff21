package dev.miij.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LeastOutstandingTest {

    record R(boolean up, int outstanding) implements LeastOutstanding.Candidate {
    }

    @Test
    void picksTheUpReplicaWithTheFewestPromptsInFlight() {
        List<R> rs = List.of(new R(true, 5), new R(true, 2), new R(true, 3));
        for (int start = 0; start < 6; start++) {
            assertEquals(1, LeastOutstanding.choose(rs, start));
        }
    }

    @Test
    void skipsReplicasThatAreDownHoweverIdle() {
        List<R> rs = List.of(new R(false, 0), new R(true, 7), new R(false, 0));
        assertEquals(1, LeastOutstanding.choose(rs, 0));
        assertEquals(1, LeastOutstanding.choose(rs, 2));
    }

    @Test
    void noReplicaUpMeansNoChoice() {
        assertEquals(-1, LeastOutstanding.choose(List.of(new R(false, 0), new R(false, 1)), 0));
        assertEquals(-1, LeastOutstanding.choose(List.<R>of(), 0));
    }

    @Test
    void tiesRotateSoAnIdleDeploymentUsesEveryReplica() {
        List<R> rs = List.of(new R(true, 1), new R(true, 1), new R(true, 1));
        assertEquals(0, LeastOutstanding.choose(rs, 0));
        assertEquals(1, LeastOutstanding.choose(rs, 1));
        assertEquals(2, LeastOutstanding.choose(rs, 2));
        assertEquals(0, LeastOutstanding.choose(rs, 3));
        assertEquals(2, LeastOutstanding.choose(rs, -1), "a wrapped-around counter still works");
    }

    @Test
    void pickingAndCountingSpreadsABurstEvenly() {
        // What BackendPool does: choose, then count the prompts against the choice.
        int[] load = new int[3];
        List<R> view = new ArrayList<>();
        for (int pick = 0; pick < 30; pick++) {
            view.clear();
            for (int l : load) {
                view.add(new R(true, l));
            }
            load[LeastOutstanding.choose(view, pick)] += 1;
        }
        assertEquals(List.of(10, 10, 10), List.of(load[0], load[1], load[2]));
    }

    @Test
    void aReplicaWithABigBatchGetsFewerNewRequests() {
        int[] load = {8, 0};
        int picksOfFirst = 0;
        for (int pick = 0; pick < 8; pick++) {
            int i = LeastOutstanding.choose(List.of(new R(true, load[0]), new R(true, load[1])), pick);
            load[i]++;
            picksOfFirst += i == 0 ? 1 : 0;
        }
        assertEquals(0, picksOfFirst);
        assertEquals(8, load[1]);
    }
}
