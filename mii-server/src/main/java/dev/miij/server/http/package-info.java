/**
 * The HTTP front end of a deployment, started with {@link dev.miij.server.http.HttpFrontend#start}.
 *
 * <table>
 * <caption>Endpoints</caption>
 * <tr><th>Request</th><th>Answer</th></tr>
 * <tr><td>{@code POST /mii/{deployment}}</td><td>MII's REST gateway: {@code {"prompts", ...MII options}} to a
 *     list of {@code {generated_text, prompt_length, generated_length, finish_reason}}; server-sent events
 *     with {@code "stream": true} (see {@code MiiGateway})</td></tr>
 * <tr><td>{@code GET /v1/models}, {@code GET /v1/models/{id}}</td><td>the served model, as OpenAI lists models</td></tr>
 * <tr><td>{@code POST /v1/completions}</td><td>OpenAI's completions, streamed as {@code text_completion} chunks</td></tr>
 * <tr><td>{@code POST /v1/chat/completions}</td><td>OpenAI's chat completions through the model's chat
 *     template, streamed as {@code chat.completion.chunk}s</td></tr>
 * <tr><td>{@code GET /metrics}</td><td>Prometheus text: requests, tokens, latencies, engine gauges</td></tr>
 * <tr><td>{@code GET /healthz}</td><td>200 when ready to serve, 503 before</td></tr>
 * </table>
 *
 * <p>Every error, on every endpoint, is {@code {"error": {"message", "type", "param", "code"}}} with the
 * status of its cause ({@code HttpError} maps engine errors in one place). Inside: {@code HttpRouter} routes
 * and guards, {@code HttpCall} reads and answers one exchange, {@code StreamPump} and {@code SseWriter}
 * stream, {@code Fields} reads request fields strictly, {@code ChatTemplate} with {@code JinjaDialect} and
 * {@code PythonStrings} render chat templates as transformers does, {@code Metrics} counts.
 */
package dev.miij.server.http;
