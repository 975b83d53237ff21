package dev.miij.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerConfigTest {

    @TempDir
    Path dir;

    @Test
    void readsTokensAsStringsOrObjects() throws IOException {
        Path file = dir.resolve("tokenizer_config.json");
        Files.writeString(file, """
                {"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
                 "eos_token": "</s>", "pad_token": null, "unk_token": {"content": "<unk>"},
                 "add_bos_token": true, "add_eos_token": false,
                 "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}],
                 "model_max_length": 1000000000000000019884624838656}
                """);
        TokenizerConfig c = TokenizerConfig.fromFile(file);
        assertEquals("<s>", c.bosToken());
        assertEquals("</s>", c.eosToken());
        assertNull(c.padToken());
        assertEquals("<unk>", c.unkToken());
        assertEquals(Boolean.TRUE, c.addBosToken());
        assertEquals(Boolean.FALSE, c.addEosToken());
        assertEquals("D", c.chatTemplate());
        assertEquals(Long.MAX_VALUE, c.modelMaxLength());
    }

    @Test
    void unstatedFieldsAreNull() throws IOException {
        Path file = dir.resolve("tokenizer_config.json");
        Files.writeString(file, "{\"chat_template\": \"{{ messages }}\", \"model_max_length\": 4096}");
        TokenizerConfig c = TokenizerConfig.fromFile(file);
        assertNull(c.bosToken());
        assertNull(c.addBosToken());
        assertNull(c.addEosToken());
        assertEquals("{{ messages }}", c.chatTemplate());
        assertEquals(4096L, c.modelMaxLength());
    }

    @Test
    void modelFolderReadsBothFiles() {
        Path llama3 = TestData.tokenizer("llama3");
        assumeTrue(Files.isRegularFile(llama3.resolve("tokenizer_config.json")), "Llama-3 tokenizer not fetched");
        Tokenizer tok = Tokenizer.fromModelFolder(llama3);
        assertEquals("<|begin_of_text|>", tok.config().bosToken());
        assertNotNull(tok.config().chatTemplate());
        assertTrue(tok.isSpecial(tok.tokenToId("<|eot_id|>").orElseThrow()));
        assertEquals(128256, tok.vocabSize());
        assertSame(TokenizerConfig.EMPTY, Tokenizer.fromFile(llama3.resolve("tokenizer.json")).config());
    }
}
