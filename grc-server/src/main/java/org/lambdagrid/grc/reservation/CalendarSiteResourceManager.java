package org.lambdagrid.grc.reservation;

import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.reservation.Calendar;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.common.reservation.Vote;

/**
 * A site's nodes as a two-phase-commit participant: one node {@link Calendar} behind a
 * {@link HoldTable}, in process. The CRM serves the same states from its own SiteReservations
 * (which also checks the sub-range); the GRC's tests use this one as an in-process CRM. Answers synchronously (the futures are already complete).
 * Thread-safe (the hold table's lock guards the calendar).
 */
public final class CalendarSiteResourceManager implements ResourceManager {
  private final String site;
  private final Calendar nodes;
  private final HoldTable table;

  public CalendarSiteResourceManager(String site, int nodes, Clock clock, Duration holdTime) {
    this.site = site;
    this.nodes = new Calendar("site '" + site + "'", nodes);
    this.table = new HoldTable(name(), clock, holdTime, new HoldTable.Resource() {
      @Override
      public void hold(String id, Window w, Ask ask) {
        if (!(ask instanceof Ask.Nodes n) || !n.site().equals(site)) {
          throw Errors.invalid("ask", ask, "is not a node count for site '" + site + "'");
        }
        if (n.nodes() <= 0) {
          throw Errors.invalid("ask.nodes", n.nodes(), "must be at least 1");
        }
        long free = CalendarSiteResourceManager.this.nodes.free(w.startMillis(), w.endMillis());
        if (free < n.nodes()) {
          throw Errors.precondition("site '" + site + "' has " + free + " of "
              + CalendarSiteResourceManager.this.nodes.capacity() + " nodes free in " + w + "; "
              + n.nodes() + " asked");
        }
        CalendarSiteResourceManager.this.nodes.add(id, w.startMillis(), w.endMillis(), n.nodes());
      }

      @Override
      public void free(String id) {
        CalendarSiteResourceManager.this.nodes.remove(id);
      }
    });
  }

  @Override
  public String name() {
    return "site:" + site;
  }

  @Override
  public CompletableFuture<Vote> prepare(String reservationId, Window window, Ask ask) {
    return CompletableFuture.completedFuture(table.prepare(reservationId, window, ask));
  }

  @Override
  public CompletableFuture<Void> commit(String reservationId) {
    return run(() -> table.commit(reservationId));
  }

  @Override
  public CompletableFuture<Void> abort(String reservationId) {
    return run(() -> table.abort(reservationId));
  }

  @Override
  public CompletableFuture<Void> release(String reservationId) {
    return run(() -> table.release(reservationId));
  }

  public Optional<HoldTable.State> state(String reservationId) {
    return table.state(reservationId);
  }

  /** Nodes held at {@code t} (epoch ms), PREPARED and COMMITTED alike, after expiring what is due. */
  public long nodesInUse(java.time.Instant t) {
    synchronized (table) {
      table.expireDue();
      return nodes.usageAt(t.toEpochMilli());
    }
  }

  public HoldTable table() {
    return table;
  }

  static CompletableFuture<Void> run(Runnable r) {
    try {
      r.run();
      return CompletableFuture.completedFuture(null);
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }
}
