package dev.miij;

import dev.miij.backend.Devices;
import dev.miij.engine.EngineConfig;

/**
 * A persistent deployment's options, with MII's names and defaults.
 *
 * @param deploymentName    name clients find it by (default: derived from the model)
 * @param tensorParallel    ranks per replica: 1 (deployments run one process per replica; a pipeline, {@code
 *                          mii generate} and {@code mii bench} run tensor-parallel groups)
 * @param replicaNum        engine processes behind the load balancer (default 1)
 * @param portNumber        gRPC port of the load balancer (MII default 50050); replicas use the following ports
 * @param enableRestfulApi  also serve MII's REST gateway and the OpenAI-compatible API
 * @param restfulApiHost    interface the HTTP server listens on (default 127.0.0.1)
 * @param restfulApiPort    HTTP port (MII default 28080)
 * @param maxLength         default max_length of requests
 * @param apiKey            Bearer key required by the HTTP APIs, or null
 * @param engine            engine settings of each replica (gpu_memory_utilization among them)
 * @param device            "cpu", "cuda" (replicas spread over the GPUs: cuda:0, cuda:1, ...) or "cuda:N"
 *                          (every replica on GPU N); null picks cuda where a usable GPU is present, else cpu.
 *                          Replicas that share a GPU split its gpu_memory_utilization.
 */
public record DeploymentOptions(String deploymentName, int tensorParallel, int replicaNum, int portNumber,
                                boolean enableRestfulApi, String restfulApiHost, int restfulApiPort, Integer maxLength,
                                String apiKey, EngineConfig engine, String device) {

    public DeploymentOptions {
        Devices.Device d = Devices.parse(device);
        device = d == null ? null : d.toString();
        if (tensorParallel != 1) {
            throw MiiException.invalid("tensor_parallel " + tensorParallel + ": deployments do not start tensor-parallel"
                    + " ranks yet (one process per replica); a pipeline does (PipelineOptions.tensorParallel). Use 1, with"
                    + " replica_num to use several devices");
        }
        if (replicaNum < 1 || replicaNum > 64) {
            throw MiiException.invalid("replica_num must be between 1 and 64, got " + replicaNum);
        }
        if (portNumber < 0 || portNumber > 65535 || restfulApiPort < 0 || restfulApiPort > 65535) {
            throw MiiException.invalid("ports must be between 0 and 65535");
        }
        if (maxLength != null && maxLength <= 0) {
            throw MiiException.invalid("max_length must be positive, got " + maxLength);
        }
    }

    public static DeploymentOptions defaults() {
        return new DeploymentOptions(null, 1, 1, 50050, false, "127.0.0.1", 28080, null, null, EngineConfig.defaults(), null);
    }

    public DeploymentOptions withDeploymentName(String v) {
        return new DeploymentOptions(v, tensorParallel, replicaNum, portNumber, enableRestfulApi, restfulApiHost, restfulApiPort, maxLength, apiKey, engine, device);
    }

    public DeploymentOptions withReplicaNum(int v) {
        return new DeploymentOptions(deploymentName, tensorParallel, v, portNumber, enableRestfulApi, restfulApiHost, restfulApiPort, maxLength, apiKey, engine, device);
    }

    public DeploymentOptions withPortNumber(int v) {
        return new DeploymentOptions(deploymentName, tensorParallel, replicaNum, v, enableRestfulApi, restfulApiHost, restfulApiPort, maxLength, apiKey, engine, device);
    }

    public DeploymentOptions withRestfulApi(boolean enable, String host, int port) {
        return new DeploymentOptions(deploymentName, tensorParallel, replicaNum, portNumber, enable, host, port, maxLength, apiKey, engine, device);
    }

    public DeploymentOptions withApiKey(String v) {
        return new DeploymentOptions(deploymentName, tensorParallel, replicaNum, portNumber, enableRestfulApi, restfulApiHost, restfulApiPort, maxLength, v, engine, device);
    }

    public DeploymentOptions withEngine(EngineConfig v) {
        return new DeploymentOptions(deploymentName, tensorParallel, replicaNum, portNumber, enableRestfulApi, restfulApiHost, restfulApiPort, maxLength, apiKey, v, device);
    }

    public DeploymentOptions withMaxLength(Integer v) {
        return new DeploymentOptions(deploymentName, tensorParallel, replicaNum, portNumber, enableRestfulApi, restfulApiHost, restfulApiPort, v, apiKey, engine, device);
    }

    public DeploymentOptions withDevice(String v) {
        return new DeploymentOptions(deploymentName, tensorParallel, replicaNum, portNumber, enableRestfulApi, restfulApiHost, restfulApiPort, maxLength, apiKey, engine, v);
    }
}
