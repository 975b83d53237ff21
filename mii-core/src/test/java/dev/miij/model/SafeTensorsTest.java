package dev.miij.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {

    @TempDir
    Path dir;

    @Test
    void roundTripsF32F16AndBf16() {
        new SafeTensorsWriter()
                .add("a.weight", DType.F32, new long[] {2, 3}, 1, 2, 3, 4, 5, 6)
                .add("b.weight", DType.F16, new long[] {3}, 0.5f, -1.5f, 65504f)
                .add("c.bias", DType.BF16, new long[] {2, 2}, 1f, -2f, 0.25f, 3f)
                .add("scalar", DType.F32, new long[] {}, 7f)
                .metadata("format", "pt")
                .write(dir.resolve("model.safetensors"));

        try (SafeTensors st = SafeTensors.open(dir)) {
            assertEquals(List.of("a.weight", "b.weight", "c.bias", "scalar"), List.copyOf(st.names()));
            assertEquals(Map.of("format", "pt"), st.metadata());

            TensorData a = st.get("a.weight");
            assertEquals(DType.F32, a.dtype());
            assertArrayEquals(new long[] {2, 3}, a.shape());
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, a.toFloatArray());
            assertEquals(2, a.rows());
            assertEquals(3, a.cols());
            assertArrayEquals(new float[] {4, 5, 6}, a.sliceRows(1, 2).toFloatArray());

            assertArrayEquals(new float[] {0.5f, -1.5f, 65504f}, st.get("b.weight").toFloatArray());
            assertArrayEquals(new float[] {1f, -2f, 0.25f, 3f}, st.get("c.bias").toFloatArray());
            assertEquals(7f, st.get("scalar").getFloat(0));
            assertEquals(24 + 6 + 8 + 4, st.byteSize());
        }
    }

    @Test
    void shardedCheckpointFollowsTheIndex() throws IOException {
        new SafeTensorsWriter().add("x", DType.F32, new long[] {2}, 1, 2).write(dir.resolve("model-00001-of-00002.safetensors"));
        new SafeTensorsWriter().add("y", DType.BF16, new long[] {1}, 3).add("z", DType.F16, new long[] {1}, 4)
                .write(dir.resolve("model-00002-of-00002.safetensors"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"metadata": {"total_size": 10},
                 "weight_map": {"x": "model-00001-of-00002.safetensors",
                                "y": "model-00002-of-00002.safetensors",
                                "z": "model-00002-of-00002.safetensors"}}""");
        try (SafeTensors st = SafeTensors.open(dir)) {
            assertEquals(Set.of("x", "y", "z"), st.names());
            assertEquals(2, st.files().size());
            assertArrayEquals(new float[] {1, 2}, st.get("x").toFloatArray());
            assertEquals(3f, st.get("y").getFloat(0));
            assertEquals(4f, st.get("z").getFloat(0));
        }
    }

    @Test
    void singleFileWinsOverIndex() throws IOException {
        new SafeTensorsWriter().add("only", DType.F32, new long[] {1}, 9).write(dir.resolve("model.safetensors"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"w\": \"gone.safetensors\"}}");
        try (SafeTensors st = SafeTensors.open(dir)) {
            assertEquals(Set.of("only"), st.names());
        }
    }

    @Test
    void tensorsAreReadOnlyMappedSlicesNotHeapCopies() throws IOException {
        // A 64 MB tensor in a sparse file: opening it must map, not read, those bytes.
        long bytes = 64L << 20;
        Path file = SafeTensorsWriter.writeRaw(dir.resolve("model.safetensors"),
                "{\"big\":{\"dtype\":\"F32\",\"shape\":[" + (bytes / 4) + "],\"data_offsets\":[0," + bytes + "]}}", new byte[0]);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(raf.length() + bytes);
        }
        try (SafeTensors st = SafeTensors.open(dir)) {
            TensorData big = st.get("big");
            assertTrue(big.data().isMapped(), "tensor bytes must be a mapped segment");
            assertTrue(big.data().isReadOnly());
            assertTrue(big.data().isNative(), "off-heap, not a byte[]");
            assertEquals(bytes, big.data().byteSize());
            assertEquals(0f, big.getFloat(bytes / 4 - 1));
        }
    }

    @Test
    void closedWeightsRefuseAccess() {
        new SafeTensorsWriter().add("w", DType.F32, new long[] {1}, 1).write(dir.resolve("model.safetensors"));
        SafeTensors st = SafeTensors.open(dir);
        st.close();
        st.close();
        assertThrows(IllegalStateException.class, () -> st.get("w"));
    }

    @Test
    void openFileReadsOneFile() {
        Path f = new SafeTensorsWriter().add("w", DType.F16, new long[] {1, 1}, 2).write(dir.resolve("other.safetensors"));
        try (SafeTensors st = SafeTensors.openFile(f)) {
            assertEquals(2f, st.get("w").getFloat(0));
        }
    }
}
