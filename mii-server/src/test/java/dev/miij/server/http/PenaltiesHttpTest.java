package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.json;
import static dev.miij.server.http.HttpTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.GenerationOptions;
import dev.miij.Pipeline;
import dev.miij.server.PipelineService;
import dev.miij.testing.Fixtures;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** presence / frequency / repetition penalties on the OpenAI API and as MII options (the engine's are checked in mii-core). */
class PenaltiesHttpTest {

    static Pipeline pipe;
    static HttpFrontend http;

    @BeforeAll
    static void start() {
        pipe = HttpTestSupport.pipeline(Fixtures.dir("llama2"));
        http = HttpFrontend.start(new PipelineService(pipe, "tiny", "llama2"), "127.0.0.1", 0, null);
    }

    @AfterAll
    static void stop() {
        http.close();
        pipe.close();
    }

    static String pipelineText(GenerationOptions.Builder b) {
        return pipe.generate("Hello", b.doSample(false).maxNewTokens(12).ignoreEos(true).build()).generatedText();
    }

    @Test
    void openAiPenaltiesReachTheSampler() throws Exception {
        HttpResponse<String> r = post(http, "/v1/completions", "{\"prompt\": \"Hello\", \"max_tokens\": 12, \"temperature\": 0, "
                + "\"ignore_eos\": true, \"presence_penalty\": 1.5, \"frequency_penalty\": 0.7, \"repetition_penalty\": 1.3}");
        assertEquals(200, r.statusCode(), r.body());
        String text = json(r).get("choices").get(0).get("text").asText();
        assertEquals(pipelineText(GenerationOptions.builder().presencePenalty(1.5).frequencyPenalty(0.7).repetitionPenalty(1.3)), text);
        HttpResponse<String> repeat = post(http, "/v1/completions", "{\"prompt\": \"Hello\", \"max_tokens\": 12, "
                + "\"temperature\": 0, \"ignore_eos\": true, \"frequency_penalty\": -2}");
        String repeated = json(repeat).get("choices").get(0).get("text").asText();
        assertEquals(pipelineText(GenerationOptions.builder().frequencyPenalty(-2)), repeated);
        assertNotEquals(pipelineText(GenerationOptions.builder()), repeated, "a negative frequency penalty changes this output");
    }

    @Test
    void miiGatewayTakesThemAsSnakeCaseOptions() throws Exception {
        HttpResponse<String> r = post(http, "/mii/tiny", "{\"prompts\": \"Hello\", \"max_new_tokens\": 12, \"do_sample\": false, "
                + "\"ignore_eos\": true, \"repetition_penalty\": 1.3}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(pipelineText(GenerationOptions.builder().repetitionPenalty(1.3)), json(r).get(0).get("generated_text").asText());
    }

    @Test
    void outOfRangePenaltiesAre400() throws Exception {
        for (String body : new String[] {"{\"prompt\": \"a\", \"presence_penalty\": 2.5}", "{\"prompt\": \"a\", \"frequency_penalty\": -3}",
                "{\"prompt\": \"a\", \"repetition_penalty\": 0}", "{\"prompt\": \"a\", \"repetition_penalty\": \"x\"}"}) {
            HttpResponse<String> r = post(http, "/v1/completions", body);
            assertEquals(400, r.statusCode(), body + " -> " + r.body());
            JsonNode error = json(r).get("error");
            assertEquals("invalid_request_error", error.get("type").asText());
        }
        assertEquals(400, post(http, "/mii/tiny", "{\"prompts\": \"a\", \"presence_penalty\": 9}").statusCode());
    }
}
