package org.lambdagrid.grc.job;

import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.lambdagrid.grc.support.CallErrors;

/**
 * One call on several sites in parallel under one deadline: every answer, or the first failure
 * (the other calls are then cancelled). Each call runs on its own worker thread.
 */
final class SiteFanOut {
  private final ExecutorService workers;

  SiteFanOut(ExecutorService workers) {
    this.workers = workers;
  }

  /**
   * Calls {@code call} for every site; returns site -> answer once all answered within
   * {@code wait}.
   *
   * @throws SiteFailure for the first site whose call failed, or one that did not answer in time
   */
  <T> Map<String, T> callAll(List<String> sites, Duration wait, Function<String, T> call)
      throws InterruptedException, SiteFailure {
    ExecutorCompletionService<Map.Entry<String, T>> ecs =
        new ExecutorCompletionService<>(workers);
    Map<String, Future<Map.Entry<String, T>>> futures = new LinkedHashMap<>();
    for (String s : sites) {
      futures.put(s, ecs.submit(() -> {
        try {
          return Map.entry(s, call.apply(s));
        } catch (RuntimeException e) {
          throw new SiteCallException(s, e);
        }
      }));
    }
    long deadline = System.nanoTime() + wait.toNanos();
    Map<String, T> results = new HashMap<>();
    try {
      for (int i = 0; i < sites.size(); i++) {
        Future<Map.Entry<String, T>> f = ecs.poll(deadline - System.nanoTime(),
            TimeUnit.NANOSECONDS);
        if (f == null) {
          String late = sites.stream().filter(s -> !results.containsKey(s)).findFirst()
              .orElse("?");
          throw new SiteFailure(late, "no answer", true);
        }
        try {
          Map.Entry<String, T> r = f.get();
          results.put(r.getKey(), r.getValue());
        } catch (ExecutionException e) {
          if (e.getCause() instanceof SiteCallException sce) {
            throw new SiteFailure(sce.site, CallErrors.describe(sce.getCause()), false);
          }
          throw new SiteFailure("?", String.valueOf(e.getCause()), false);
        }
      }
      return results;
    } finally {
      futures.values().forEach(f -> f.cancel(true));
    }
  }

  /** A site's call failed ({@code timedOut}: it did not answer); names the site. */
  static final class SiteFailure extends Exception {
    final String site;
    final String detail;
    final boolean timedOut;

    SiteFailure(String site, String detail, boolean timedOut) {
      super("site '" + site + "': " + detail);
      this.site = site;
      this.detail = detail;
      this.timedOut = timedOut;
    }
  }

  private static final class SiteCallException extends RuntimeException {
    final String site;

    SiteCallException(String site, Throwable cause) {
      super(cause);
      this.site = site;
    }
  }
}
