package dev.miij.server.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import java.util.Map;
import org.junit.jupiter.api.Test;

class GroupRendezvousTest {

    @Test
    void aloneIsRankZeroOfOne() {
        GroupRendezvous g = GroupRendezvous.fromEnvironment(Map.of());
        assertEquals(new GroupRendezvous(null, 0, 1, GroupRendezvous.DEFAULT_PORT), g);
        assertTrue(g.leader());
    }

    @Test
    void leaderWorkerSetVariables() {
        GroupRendezvous w = GroupRendezvous.fromEnvironment(Map.of("LWS_LEADER_ADDRESS", "big-0.big.serving",
                "LWS_WORKER_INDEX", "1", "LWS_GROUP_SIZE", "2", "MII_RENDEZVOUS_PORT", "29600"));
        assertEquals(new GroupRendezvous("big-0.big.serving", 1, 2, 29600), w);
        GroupRendezvous l = GroupRendezvous.fromEnvironment(Map.of("LWS_LEADER_ADDRESS", "big-0.big.serving",
                "LWS_WORKER_INDEX", "0", "LWS_GROUP_SIZE", "2"));
        assertTrue(l.leader());
        assertEquals(2, l.worldSize());
    }

    @Test
    void inconsistentPlacesAreErrors() {
        assertThrows(MiiException.class, () -> GroupRendezvous.fromEnvironment(Map.of("LWS_WORKER_INDEX", "2", "LWS_GROUP_SIZE", "2",
                "LWS_LEADER_ADDRESS", "x")));
        assertThrows(MiiException.class, () -> GroupRendezvous.fromEnvironment(Map.of("LWS_WORKER_INDEX", "1", "LWS_GROUP_SIZE", "2")));
        assertThrows(MiiException.class, () -> GroupRendezvous.fromEnvironment(Map.of("LWS_GROUP_SIZE", "2")));
        assertThrows(MiiException.class, () -> GroupRendezvous.fromEnvironment(Map.of("LWS_WORKER_INDEX", "one", "LWS_GROUP_SIZE", "2",
                "LWS_LEADER_ADDRESS", "x")));
    }
}
