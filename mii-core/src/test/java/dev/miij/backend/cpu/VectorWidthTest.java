package dev.miij.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.Vector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * Guards against vector species wider than the hardware's: the JDK runs those through its Java
 * fallback, about a hundred times slower, and nothing else would notice. Checks every compiled
 * class of the project for fixed-width species (by name, in the class file's constant pool) and
 * every static vector or species field of the CPU backend and the benchmarks for its width.
 */
class VectorWidthTest {

    private static final int PREFERRED_BITS = VectorShape.preferredShape().vectorBitSize();

    @Test
    void kernelSpeciesIsThePreferredOne() {
        assertEquals(PREFERRED_BITS, WeightLoads.F.vectorBitSize());
        assertEquals(PREFERRED_BITS, WeightLoads.I32.vectorBitSize());
        assertEquals(PREFERRED_BITS / 2, WeightLoads.S16.vectorBitSize());
        assertEquals(WeightLoads.F.length(), WeightLoads.L);
        assertEquals(2 * WeightLoads.L, MatVec.B);
        assertTrue(MatMulTiled.NR % WeightLoads.L == 0);
        assertTrue(CpuBackend.describe().startsWith("vector: " + PREFERRED_BITS + "-bit"), CpuBackend.describe());
    }

    @Test
    void checkRefusesSpeciesWiderThanTheHardware() {
        WeightLoads.check(FloatVector.SPECIES_PREFERRED, IntVector.SPECIES_64);
        VectorSpecies<Float> wider = VectorSpecies.of(float.class, VectorShape.forBitSize(PREFERRED_BITS * 2 > 512
                ? 512 : PREFERRED_BITS * 2));
        if (wider.vectorBitSize() > PREFERRED_BITS) {
            assertThrows(IllegalStateException.class, () -> WeightLoads.check(wider));
        }
    }

    @Test
    void noClassNamesAFixedWidthSpecies() throws IOException, URISyntaxException {
        Path classes = Path.of(CpuBackend.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> offenders = new ArrayList<>();
        int checked = 0;
        try (Stream<Path> files = Files.walk(classes)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
                // A getstatic of FloatVector.SPECIES_512 (or _256, _128, _64, _MAX) names the field in
                // the constant pool as a UTF-8 string.
                String pool = new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1);
                for (String name : new String[] {"SPECIES_512", "SPECIES_256", "SPECIES_128", "SPECIES_64", "SPECIES_MAX"}) {
                    if (pool.contains(name)) {
                        offenders.add(classes.relativize(f) + " uses " + name);
                    }
                }
                checked++;
            }
        }
        assertTrue(checked > 50, "found only " + checked + " classes under " + classes);
        assertTrue(offenders.isEmpty(), "fixed-width vector species (use WeightLoads.F / SPECIES_PREFERRED): " + offenders);
    }

    @Test
    void staticVectorsAndSpeciesAreNoWiderThanTheHardware() throws Exception {
        List<Class<?>> classes = List.of(WeightLoads.class, MatVec.class, MatMulTiled.class, CpuAttention.class,
                VectorOps.class, CpuKernels.class, DecodeReadProbe.class, dev.miij.bench.MemoryBandwidth.class);
        int seen = 0;
        for (Class<?> c : classes) {
            for (Field f : c.getDeclaredFields()) {
                if (!Modifier.isStatic(f.getModifiers())) {
                    continue;
                }
                f.setAccessible(true);
                Object v = f.get(null);
                for (Object o : v != null && v.getClass().isArray() && !v.getClass().getComponentType().isPrimitive()
                        ? elements(v) : new Object[] {v}) {
                    int bits = o instanceof VectorSpecies<?> s ? s.vectorBitSize()
                            : o instanceof Vector<?> vec ? vec.species().vectorBitSize() : -1;
                    if (bits >= 0) {
                        seen++;
                        assertFalse(bits > PREFERRED_BITS, c.getSimpleName() + "." + f.getName() + " is " + bits
                                + "-bit on a " + PREFERRED_BITS + "-bit machine");
                    }
                }
            }
        }
        assertTrue(seen >= 10, "expected the kernels' vector constants, saw " + seen);
    }

    private static Object[] elements(Object array) {
        Object[] out = new Object[Array.getLength(array)];
        for (int i = 0; i < out.length; i++) {
            out[i] = Array.get(array, i);
        }
        return out;
    }
}
