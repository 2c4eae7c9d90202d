package org.lambdagrid.grc.scale;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/** Runs task(0..n-1) on {@code threads} threads; rethrows the first failure. */
final class Parallel {
  private Parallel() {}

  static void run(int n, int threads, IntConsumer task) throws InterruptedException {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    AtomicInteger next = new AtomicInteger();
    try {
      List<Future<?>> fs = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        fs.add(pool.submit(() -> {
          for (int i = next.getAndIncrement(); i < n; i = next.getAndIncrement()) {
            task.accept(i);
          }
        }));
      }
      for (Future<?> f : fs) {
        try {
          f.get();
        } catch (ExecutionException e) {
          throw e.getCause() instanceof RuntimeException r ? r : new RuntimeException(e.getCause());
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
