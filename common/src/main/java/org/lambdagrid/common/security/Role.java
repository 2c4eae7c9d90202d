package org.lambdagrid.common.security;

import java.util.Locale;

/**
 * What a certificate lets its holder do. The role is the certificate subject's {@code OU}; the
 * subject's {@code CN} binds it (a site for {@link #CRM} and {@link #NODEMANAGER}, a user name
 * for {@link #USER}). See docs/security.md.
 */
public enum Role {
  GRC, CRM, NODEMANAGER, USER, OPERATOR;

  /** The OU value: the lower-case name. */
  public String ou() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The role named by an OU value, or null. */
  public static Role fromOu(String ou) {
    for (Role r : values()) {
      if (r.ou().equals(ou)) {
        return r;
      }
    }
    return null;
  }
}
