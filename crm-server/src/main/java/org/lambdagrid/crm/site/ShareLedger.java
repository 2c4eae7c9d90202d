package org.lambdagrid.crm.site;

import java.util.List;

/**
 * Where a CRM records its shares durably, so a restarted CRM still holds what it promised and
 * never hands a node or a range out twice. Each method has committed when it returns; if it
 * throws, the operation that called it fails and the site's memory is unchanged.
 *
 * <p>A share is <em>reserved</em> (ReserveShare answered), then <em>started</em> (the first
 * SetupNodes: pilots may exist from then on), then gone (released). See
 * {@link SiteShares#recover} for what a restart does with each.
 */
public interface ShareLedger {
  /** A share as recorded; {@code started} once pilots may have been launched for it. */
  record Recorded(ShareSpec spec, boolean started) {}

  ShareLedger NONE = new ShareLedger() {
    @Override
    public void reserved(ShareSpec spec) { }

    @Override
    public void started(String jobId) { }

    @Override
    public void released(String jobId) { }

    @Override
    public List<Recorded> load() {
      return List.of();
    }
  };

  void reserved(ShareSpec spec);

  /** Idempotent. */
  void started(String jobId);

  /** Idempotent. */
  void released(String jobId);

  List<Recorded> load();
}
