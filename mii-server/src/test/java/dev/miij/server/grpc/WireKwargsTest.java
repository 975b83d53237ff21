package dev.miij.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.GenerationOptions;
import dev.miij.MiiException;
import dev.miij.server.grpc.proto.Value;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WireKwargsTest {

    @Test
    void readsMiiTypedValues() {
        GenerationOptions o = WireKwargs.parse(Map.of(
                "max_new_tokens", WireKwargs.value(12),
                "do_sample", WireKwargs.value(false),
                "top_p", WireKwargs.value(0.95f),
                "temperature", WireKwargs.value(0.7),
                "stop", WireKwargs.value("\n"),
                "seed", WireKwargs.value(42L)), null);
        assertEquals(12, o.maxNewTokens());
        assertEquals(false, o.doSample());
        assertEquals(0.95, o.topP(), "a float on the wire reads back as the decimal that was sent");
        assertEquals(0.7, o.temperature(), 1e-12);
        assertEquals(List.of("\n"), o.stop());
        assertEquals(42L, o.seed());
    }

    @Test
    void roundTripsOptionsThroughTheWire() {
        GenerationOptions o = GenerationOptions.builder().maxLength(300).maxNewTokens(9).minNewTokens(2).ignoreEos(true)
                .doSample(false).topP(0.5).topK(7).temperature(0.25).returnFullText(true).stop(List.of("a", "bc"))
                .seed(5L).build();
        assertEquals(o, WireKwargs.parse(WireKwargs.of(o), null));
    }

    @Test
    void defaultsAreNotSentSoTheDeploymentsOwnApply() {
        assertEquals(Map.of(), WireKwargs.of(GenerationOptions.defaults()));
        assertEquals(200, WireKwargs.parse(Map.of(), 200).maxLength());
        assertEquals(50, WireKwargs.parse(Map.of("max_length", WireKwargs.value(50)), 200).maxLength());
    }

    @Test
    void badValuesNameTheField() {
        MiiException e = assertThrows(MiiException.class,
                () -> WireKwargs.parse(Map.of("top_k", WireKwargs.value("many")), null));
        assertEquals(MiiException.Kind.INVALID_ARGUMENT, e.kind());
        assertTrue(e.getMessage().contains("top_k"), e.getMessage());
        e = assertThrows(MiiException.class, () -> WireKwargs.parse(Map.of("beams", WireKwargs.value(4)), null));
        assertTrue(e.getMessage().contains("beams"), e.getMessage());
        e = assertThrows(MiiException.class, () -> WireKwargs.parse(Map.of("max_new_tokens", WireKwargs.value(-1)), null));
        assertTrue(e.getMessage().contains("max_new_tokens"), e.getMessage());
    }

    @Test
    void anUnsetValueIsIgnored() {
        assertEquals(GenerationOptions.defaults(), WireKwargs.parse(Map.of("top_k", Value.getDefaultInstance()), null));
    }
}
