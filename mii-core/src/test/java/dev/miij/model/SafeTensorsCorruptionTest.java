package dev.miij.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each way a checkpoint can be damaged yields a MiiException of the right kind naming the problem. */
class SafeTensorsCorruptionTest {

    @TempDir
    Path dir;

    private MiiException openFails(MiiException.Kind kind, String... fragments) {
        MiiException e = assertThrows(MiiException.class, () -> SafeTensors.open(dir).close());
        assertEquals(kind, e.kind(), e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message lacks '" + f + "': " + e.getMessage());
        }
        return e;
    }

    private void header(String json, int dataBytes) {
        SafeTensorsWriter.writeRaw(dir.resolve("model.safetensors"), json, new byte[dataBytes]);
    }

    @Test
    void fileShorterThanTheHeaderLengthField() throws IOException {
        Files.write(dir.resolve("model.safetensors"), new byte[] {1, 2, 3});
        openFails(MiiException.Kind.CORRUPT, "too short", "model.safetensors");
    }

    @Test
    void fileShorterThanItsDeclaredHeader() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(1000);
        Files.write(dir.resolve("model.safetensors"), b.array());
        openFails(MiiException.Kind.CORRUPT, "shorter than its header", "1000", "truncated");
    }

    @Test
    void absurdHeaderLength() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-5);
        Files.write(dir.resolve("model.safetensors"), b.array());
        openFails(MiiException.Kind.CORRUPT, "not a safetensors file");
    }

    @Test
    void headerNotJson() {
        header("{\"w\": {\"dtype\": ", 0);
        openFails(MiiException.Kind.CORRUPT, "not valid JSON", "header of");
    }

    @Test
    void headerNotAnObject() {
        header("[1, 2]", 0);
        openFails(MiiException.Kind.CORRUPT, "must hold a JSON object");
    }

    @Test
    void duplicateTensorInHeader() {
        String e = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
        header("{\"w\":" + e + ",\"w\":" + e + "}", 4);
        openFails(MiiException.Kind.CORRUPT, "Duplicate field 'w'");
    }

    @Test
    void dataOffsetsBeyondTheFile() {
        header("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
        openFails(MiiException.Kind.CORRUPT, "'w'", "beyond the 8 data bytes", "truncated");
    }

    @Test
    void dataOffsetsInconsistentWithShape() {
        header("{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,8]}}", 8);
        openFails(MiiException.Kind.CORRUPT, "'w'", "holds 8 bytes", "needs 12");
    }

    @Test
    void dataOffsetsReversed() {
        header("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8);
        openFails(MiiException.Kind.CORRUPT, "end before they begin");
    }

    @Test
    void missingOrMalformedFields() {
        header("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
        openFails(MiiException.Kind.CORRUPT, "'w'", "no dtype");
        header("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
        openFails(MiiException.Kind.CORRUPT, "invalid shape");
        header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4);
        openFails(MiiException.Kind.CORRUPT, "invalid data_offsets");
    }

    @Test
    void overlappingTensors() {
        header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
        openFails(MiiException.Kind.CORRUPT, "'a'", "'b'", "overlap");
    }

    @Test
    void unknownDtype() {
        header("{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
        openFails(MiiException.Kind.UNSUPPORTED, "'w'", "Q4_K");
    }

    @Test
    void indexReferencingMissingShard() throws IOException {
        new SafeTensorsWriter().add("x", DType.F32, new long[] {1}, 1).write(dir.resolve("a.safetensors"));
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"weight_map\": {\"x\": \"a.safetensors\", \"y\": \"b.safetensors\"}}");
        openFails(MiiException.Kind.CORRUPT, "b.safetensors", "missing", "incomplete");
    }

    @Test
    void indexPromisingTensorItsShardLacks() throws IOException {
        new SafeTensorsWriter().add("x", DType.F32, new long[] {1}, 1).write(dir.resolve("a.safetensors"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"x\": \"a.safetensors\", \"y\": \"a.safetensors\"}}");
        openFails(MiiException.Kind.CORRUPT, "'y'", "does not contain");
    }

    @Test
    void indexEscapingTheFolderOrMalformed() throws IOException {
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"x\": \"../secret.safetensors\"}}");
        openFails(MiiException.Kind.CORRUPT, "not a file name");
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"metadata\": {}}");
        openFails(MiiException.Kind.CORRUPT, "no weight_map");
        Files.writeString(dir.resolve("model.safetensors.index.json"), "not json");
        openFails(MiiException.Kind.CORRUPT, "not valid JSON");
    }

    @Test
    void tensorInTwoShards() throws IOException {
        new SafeTensorsWriter().add("x", DType.F32, new long[] {1}, 1).write(dir.resolve("a.safetensors"));
        new SafeTensorsWriter().add("x", DType.F32, new long[] {1}, 2).write(dir.resolve("b.safetensors"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"x\": \"a.safetensors\", \"y\": \"b.safetensors\"}}");
        openFails(MiiException.Kind.CORRUPT, "'x'", "appears in both");
    }

    @Test
    void missingTensorNamesTensorAndFolder() {
        new SafeTensorsWriter().add("model.layers.0.mlp.up_proj.weight", DType.F32, new long[] {1}, 1).write(dir.resolve("model.safetensors"));
        try (SafeTensors st = SafeTensors.open(dir)) {
            MiiException e = assertThrows(MiiException.class, () -> st.get("model.layers.1.mlp.up_proj.weight"));
            assertEquals(MiiException.Kind.CORRUPT, e.kind());
            assertTrue(e.getMessage().contains("'model.layers.1.mlp.up_proj.weight'"), e.getMessage());
            assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("e.g. model.layers.0.mlp.up_proj.weight"), e.getMessage());
        }
    }

    @Test
    void pytorchBinOnlyFolderAsksForConversion() throws IOException {
        Files.write(dir.resolve("pytorch_model.bin"), new byte[] {0});
        openFails(MiiException.Kind.UNSUPPORTED, "pytorch_model.bin", "safe_serialization=True", "Convert");
    }

    @Test
    void folderWithoutWeights() {
        openFails(MiiException.Kind.NOT_FOUND, "no model.safetensors", dir.toString());
    }

    @Test
    void strayShardsWithoutIndexAreNamed() {
        new SafeTensorsWriter().add("x", DType.F32, new long[] {1}, 1).write(dir.resolve("consolidated.safetensors"));
        openFails(MiiException.Kind.NOT_FOUND, "consolidated.safetensors");
    }
}
