package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.get;
import static dev.miij.server.http.HttpTestSupport.json;
import static dev.miij.server.http.HttpTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.errors.UnauthorizedException;
import com.openai.models.completions.CompletionCreateParams;
import dev.miij.Pipeline;
import dev.miij.server.PipelineService;
import dev.miij.testing.Fixtures;
import java.net.http.HttpResponse;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The API key guards the generation APIs only; readiness gates /healthz and generation. */
class AuthAndHealthTest {

    static final String KEY = "s3cret-key";
    static final String GOOD = "{\"prompts\": \"Hello\", \"max_new_tokens\": 2}";

    static Pipeline pipe;
    static HttpFrontend http;

    @BeforeAll
    static void start() {
        pipe = HttpTestSupport.pipeline(Fixtures.dir("llama2"));
        http = HttpFrontend.start(new PipelineService(pipe, "tiny", "llama2"), null, 0, KEY);
    }

    @AfterAll
    static void stop() {
        http.close();
        pipe.close();
    }

    @AfterEach
    void ready() {
        http.setReady(true);
    }

    @Test
    void listensOnLoopbackByDefault() {
        assertTrue(http.address().getAddress().isLoopbackAddress(), http.address().toString());
    }

    @Test
    void generationApisNeedTheKey() throws Exception {
        for (String path : new String[] {"/v1/models", "/v1/nothing-here", "/mii/tiny"}) {
            HttpResponse<String> r = path.startsWith("/mii") ? post(http, path, GOOD) : get(http, path);
            assertEquals(401, r.statusCode(), path);
            assertEquals("Bearer", r.headers().firstValue("WWW-Authenticate").orElseThrow());
            assertEquals("invalid_api_key", json(r).get("error").get("code").asText());
            assertTrue(json(r).get("error").get("message").asText().contains("missing API key"), r.body());
        }
        HttpResponse<String> wrong = post(http, "/mii/tiny", GOOD, "Authorization", "Bearer nope");
        assertEquals(401, wrong.statusCode());
        assertTrue(json(wrong).get("error").get("message").asText().contains("incorrect API key"), wrong.body());
        assertEquals(401, post(http, "/mii/tiny", GOOD, "Authorization", KEY).statusCode(), "the scheme is required");

        assertEquals(200, post(http, "/mii/tiny", GOOD, "Authorization", "Bearer " + KEY).statusCode());
        assertEquals(200, get(http, "/v1/models", "Authorization", "bearer " + KEY).statusCode());
    }

    @Test
    void probesAndScrapersNeedNoKey() throws Exception {
        assertEquals(200, get(http, "/healthz").statusCode());
        assertEquals(200, get(http, "/metrics").statusCode());
    }

    @Test
    void theSdkSendsTheKey() {
        CompletionCreateParams p = CompletionCreateParams.builder().model("llama2").prompt("Hello").maxTokens(3).build();
        OpenAIClient good = HttpTestSupport.openAi(http, KEY);
        OpenAIClient bad = HttpTestSupport.openAi(http, "wrong");
        try {
            assertEquals(3, good.completions().create(p).usage().orElseThrow().completionTokens());
            UnauthorizedException e = assertThrows(UnauthorizedException.class, () -> bad.completions().create(p));
            assertTrue(e.getMessage().contains("incorrect API key"), e.getMessage());
        } finally {
            good.close();
            bad.close();
        }
    }

    @Test
    void notReadyMeans503ForProbesAndGeneration() throws Exception {
        HttpResponse<String> r = get(http, "/healthz");
        assertEquals(200, r.statusCode());
        assertEquals("ok", json(r).get("status").asText());

        http.setReady(false);
        r = get(http, "/healthz");
        assertEquals(503, r.statusCode());
        assertEquals("starting", json(r).get("status").asText());
        r = post(http, "/mii/tiny", GOOD, "Authorization", "Bearer " + KEY);
        assertEquals(503, r.statusCode());
        assertEquals("1", r.headers().firstValue("Retry-After").orElseThrow());
        assertEquals(200, get(http, "/v1/models", "Authorization", "Bearer " + KEY).statusCode(), "listing needs no engine");

        AtomicBoolean replicaUp = new AtomicBoolean();
        http.setReadiness(replicaUp::get);
        assertEquals(503, get(http, "/healthz").statusCode());
        replicaUp.set(true);
        assertEquals(200, get(http, "/healthz").statusCode());
        assertEquals(200, post(http, "/mii/tiny", GOOD, "Authorization", "Bearer " + KEY).statusCode());
    }
}
