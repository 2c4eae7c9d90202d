package org.lambdagrid.nodemanager;

/** {@link NodeManager#start} could not reach the CRM within the connect timeout. */
public class CrmUnreachableException extends Exception {
  public CrmUnreachableException(String message) {
    super(message);
  }
}
