package org.lambdagrid.nsi;

import jakarta.jws.WebService;
import jakarta.xml.ws.Holder;
import java.util.List;
import javax.xml.datatype.XMLGregorianCalendar;
import org.ogf.schemas.nsi._2013._12.connection.requester.ConnectionRequesterPort;
import org.ogf.schemas.nsi._2013._12.connection.types.ConnectionStatesType;
import org.ogf.schemas.nsi._2013._12.connection.types.DataPlaneStatusType;
import org.ogf.schemas.nsi._2013._12.connection.types.EventEnumType;
import org.ogf.schemas.nsi._2013._12.connection.types.GenericAcknowledgmentType;
import org.ogf.schemas.nsi._2013._12.connection.types.QueryNotificationConfirmedType;
import org.ogf.schemas.nsi._2013._12.connection.types.QueryRecursiveResultType;
import org.ogf.schemas.nsi._2013._12.connection.types.QueryResultResponseType;
import org.ogf.schemas.nsi._2013._12.connection.types.QuerySummaryResultType;
import org.ogf.schemas.nsi._2013._12.connection.types.ReservationConfirmCriteriaType;
import org.ogf.schemas.nsi._2013._12.framework.headers.CommonHeaderType;
import org.ogf.schemas.nsi._2013._12.framework.types.ServiceExceptionType;
import org.ogf.schemas.nsi._2013._12.framework.types.TypeValuePairListType;

/**
 * The requester endpoint the provider calls back on: confirmations and failures go to the
 * waiting request by the header's correlation id; unsolicited notifications to {@link NsiEvents}.
 * Every callback is acknowledged (the NSI header is echoed).
 */
@WebService(serviceName = "ConnectionServiceRequester", portName = "ConnectionServiceRequesterPort",
    targetNamespace = "http://schemas.ogf.org/nsi/2013/12/connection/requester",
    endpointInterface = "org.ogf.schemas.nsi._2013._12.connection.requester.ConnectionRequesterPort")
final class RequesterEndpoint implements ConnectionRequesterPort {
  interface Sink {
    void complete(String correlationId, String connectionId, String failure);
  }

  private final Sink sink;
  private final NsiEvents events;

  RequesterEndpoint(Sink sink, NsiEvents events) {
    this.sink = sink;
    this.events = events;
  }

  private static String correlation(Holder<CommonHeaderType> h) {
    return h == null || h.value == null ? null : h.value.getCorrelationId();
  }

  private void ok(Holder<CommonHeaderType> h, String connectionId) {
    sink.complete(correlation(h), connectionId, null);
  }

  private void failed(Holder<CommonHeaderType> h, String connectionId, ServiceExceptionType e) {
    sink.complete(correlation(h), connectionId, NsiRequester.reason(e, "failed without a reason"));
  }

  @Override
  public void reserveConfirmed(String connectionId, String globalReservationId,
      String description, ReservationConfirmCriteriaType criteria,
      Holder<CommonHeaderType> header) {
    ok(header, connectionId);
  }

  @Override
  public void reserveFailed(String connectionId, ConnectionStatesType connectionStates,
      ServiceExceptionType serviceException, Holder<CommonHeaderType> header) {
    failed(header, connectionId, serviceException);
  }

  @Override
  public void reserveCommitConfirmed(String connectionId, Holder<CommonHeaderType> header) {
    ok(header, connectionId);
  }

  @Override
  public void reserveCommitFailed(String connectionId, ConnectionStatesType connectionStates,
      ServiceExceptionType serviceException, Holder<CommonHeaderType> header) {
    failed(header, connectionId, serviceException);
  }

  @Override
  public void reserveAbortConfirmed(String connectionId, Holder<CommonHeaderType> header) {
    ok(header, connectionId);
  }

  @Override
  public void provisionConfirmed(String connectionId, Holder<CommonHeaderType> header) {
    ok(header, connectionId);
  }

  @Override
  public void releaseConfirmed(String connectionId, Holder<CommonHeaderType> header) {
    ok(header, connectionId);
  }

  @Override
  public void terminateConfirmed(String connectionId, Holder<CommonHeaderType> header) {
    ok(header, connectionId);
  }

  @Override
  public void error(ServiceExceptionType serviceException, Holder<CommonHeaderType> header) {
    failed(header, serviceException == null ? null : serviceException.getConnectionId(),
        serviceException);
  }

  @Override
  public void reserveTimeout(String connectionId, long notificationId,
      XMLGregorianCalendar timeStamp, int timeoutValue, String originatingConnectionId,
      String originatingNSA, Holder<CommonHeaderType> header) {
    events.reserveTimeout(connectionId, timeoutValue);
  }

  @Override
  public void dataPlaneStateChange(String connectionId, long notificationId,
      XMLGregorianCalendar timeStamp, DataPlaneStatusType dataPlaneStatus,
      Holder<CommonHeaderType> header) {
    events.dataPlaneStateChange(connectionId, dataPlaneStatus != null && dataPlaneStatus.isActive());
  }

  @Override
  public void errorEvent(String connectionId, long notificationId, XMLGregorianCalendar timeStamp,
      EventEnumType event, String originatingConnectionId, String originatingNSA,
      TypeValuePairListType additionalInfo, ServiceExceptionType serviceException,
      Holder<CommonHeaderType> header) {
    events.errorEvent(connectionId, event == null ? "errorEvent" : event.value(),
        NsiRequester.reason(serviceException, ""));
  }

  @Override
  public void messageDeliveryTimeout(String connectionId, long notificationId,
      XMLGregorianCalendar timeStamp, String correlationId, Holder<CommonHeaderType> header) {
    // A request of ours the provider could not forward in time: fail whoever waits for it.
    sink.complete(correlationId, connectionId, "message delivery timeout");
  }

  // Queries go through querySummarySync; the asynchronous query answers are only acknowledged.

  @Override
  public void querySummaryConfirmed(List<QuerySummaryResultType> reservation,
      XMLGregorianCalendar lastModified, Holder<CommonHeaderType> header) {}

  @Override
  public GenericAcknowledgmentType queryNotificationConfirmed(
      QueryNotificationConfirmedType queryNotificationConfirmed, Holder<CommonHeaderType> header) {
    return new GenericAcknowledgmentType();
  }

  @Override
  public void queryResultConfirmed(List<QueryResultResponseType> result,
      Holder<CommonHeaderType> header) {}

  @Override
  public void queryRecursiveConfirmed(List<QueryRecursiveResultType> reservation,
      Holder<CommonHeaderType> header) {}
}
