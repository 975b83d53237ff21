package dev.miij.parallel;

import dev.miij.MiiException;
import dev.miij.backend.Backend;
import dev.miij.backend.Tensor;

/**
 * The collectives of a {@link ProcessGroup} over its TCP connections, through host memory: every
 * rank sends its tensor to rank 0, which sums (or concatenates) the contributions in rank order and
 * sends the result back, so all ranks hold bit-identical results, the same as an
 * {@link InProcessGroup} computes. For the CPU backend; a GPU's collectives go through its own
 * library ({@link CollectiveProvider}).
 */
final class SocketCollective implements Collective {

    private final ProcessGroup group;
    private final Backend backend;

    SocketCollective(ProcessGroup group, Backend backend) {
        this.group = group;
        this.backend = backend;
    }

    @Override
    public int rank() {
        return group.rank();
    }

    @Override
    public int size() {
        return group.size();
    }

    @Override
    public void allReduceSum(Tensor x) {
        int n = x.rows() * x.cols();
        float[] mine = backend.toHost(x);
        float[] sum;
        if (rank() == 0) {
            sum = new float[n];
            for (int r = 0; r < size(); r++) {
                float[] c = r == 0 ? mine : group.takeData(r);
                if (c.length < n) {
                    throw outOfStep(r, "sent " + c.length + " values to an all-reduce of " + n);
                }
                for (int i = 0; i < n; i++) {
                    sum[i] += c[i];
                }
            }
            for (int r = 1; r < size(); r++) {
                group.sendData(r, sum, n);
            }
        } else {
            group.sendData(0, mine, n);
            sum = group.takeData(0);
            if (sum.length != n) {
                throw outOfStep(0, "sent " + sum.length + " values back from an all-reduce of " + n);
            }
        }
        overwrite(x, sum);
    }

    @Override
    public void gatherColumns(Tensor local, Tensor out) {
        int rows = local.rows();
        float[] mine = backend.toHost(local);
        int n = rows * local.cols();
        float[] all;
        if (rank() == 0) {
            all = new float[rows * out.cols()];
            int col = 0;
            for (int r = 0; r < size(); r++) {
                float[] c = r == 0 ? mine : group.takeData(r);
                int w = c.length / rows;
                if (c.length % rows != 0 || col + w > out.cols()) {
                    throw outOfStep(r, "sent " + c.length + " values to a gather of " + rows + " rows into "
                            + out.cols() + " columns");
                }
                for (int row = 0; row < rows; row++) {
                    System.arraycopy(c, row * w, all, row * out.cols() + col, w);
                }
                col += w;
            }
            if (col != out.cols()) {
                throw outOfStep(0, "gathered " + col + " columns into " + out.cols());
            }
            for (int r = 1; r < size(); r++) {
                group.sendData(r, all, all.length);
            }
        } else {
            group.sendData(0, mine, n);
            all = group.takeData(0);
            if (all.length != rows * out.cols()) {
                throw outOfStep(0, "sent " + all.length + " values back from a gather into " + rows + " x " + out.cols());
            }
        }
        overwrite(out, all);
    }

    /** Ranks that disagree on a collective's shape have lost step with each other: the group ends. */
    private MiiException outOfStep(int culprit, String what) {
        return group.abort(new MiiException(MiiException.Kind.INTERNAL, "rank " + culprit + " " + what
                + " (the ranks are out of step)"));
    }

    /** Writes host values into an existing tensor through the backend's operations: {@code x = 0 * x + values}. */
    private void overwrite(Tensor x, float[] values) {
        backend.scale(x, 0f);
        backend.add(x, backend.upload(values, x.rows(), x.cols()));
    }
}
