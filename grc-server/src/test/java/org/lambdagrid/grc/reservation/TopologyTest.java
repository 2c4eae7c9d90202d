package org.lambdagrid.grc.reservation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.Errors;
import org.lambdagrid.grc.reservation.Topology.Link;
import org.lambdagrid.grc.reservation.Topology.Site;

class TopologyTest {
  private static final List<Site> SITES =
      List.of(new Site("a", 8), new Site("b", 8), new Site("c", 8), new Site("d", 8), new Site("e", 0));

  @Test
  void pathIsShortestInHopsWithTheSameTieBreakWhateverTheConfigOrder() {
    // a square a-b-d, a-c-d: two paths of two hops from a to d; b comes before c by name.
    List<Link> links = List.of(new Link("c", "d", 10), new Link("a", "c", 10), new Link("d", "b", 10),
        new Link("b", "a", 10), new Link("d", "e", 5));
    Topology t1 = Topology.of(SITES, links);
    Topology t2 = Topology.of(SITES, List.of(links.get(4), links.get(3), links.get(2), links.get(1), links.get(0)));
    assertThat(t1.path("a", "d")).extracting(Link::id).containsExactly("a<->b", "b<->d");
    assertThat(t2.path("a", "d")).extracting(Link::id).containsExactly("a<->b", "b<->d");
    assertThat(t1.path("d", "a")).extracting(Link::id).containsExactlyInAnyOrder("a<->b", "b<->d");
    assertThat(t1.path("a", "e")).hasSize(3);
    assertThat(Topology.bottleneck(t1.path("a", "e"))).isEqualTo(5);
    assertThat(t1.path("a", "a")).isEmpty();
  }

  @Test
  void unknownSiteIsNotFoundAndDisconnectedSitesHaveNoPath() {
    Topology t = Topology.of(SITES, List.of(new Link("a", "b", 10)));
    assertThatThrownBy(() -> t.path("a", "x")).isInstanceOfSatisfying(Errors.RequestException.class,
        e -> assertThat(e.code()).isEqualTo(Status.Code.NOT_FOUND)).hasMessageContaining("unknown site 'x'");
    assertThat(t.route("a", "c")).isEmpty();
    assertThatThrownBy(() -> t.path("a", "c")).isInstanceOfSatisfying(Errors.RequestException.class,
        e -> assertThat(e.code()).isEqualTo(Status.Code.FAILED_PRECONDITION));
  }

  @Test
  void validationNamesTheFieldAndTheValue() {
    assertThatThrownBy(() -> Topology.of(SITES, List.of(new Link("a", "b", 10), new Link("a", "kyoto", 10))))
        .isInstanceOf(ConfigException.class).hasMessageStartingWith("links[1].b: 'kyoto' is not a site");
    assertThatThrownBy(() -> Topology.of(SITES, List.of(new Link("a", "b", 10), new Link("b", "a", 20))))
        .isInstanceOf(ConfigException.class).hasMessage("links[1]: 'a<->b' duplicates links[0]");
    assertThatThrownBy(() -> Topology.of(SITES, List.of(new Link("a", "b", 0))))
        .isInstanceOf(ConfigException.class).hasMessage("links[0].capacityBps: '0' must be positive");
    assertThatThrownBy(() -> Topology.of(SITES, List.of(new Link("a", "b", -1))))
        .isInstanceOf(ConfigException.class).hasMessage("links[0].capacityBps: '-1' must be positive");
    assertThatThrownBy(() -> Topology.of(SITES, List.of(new Link("a", "a", 1))))
        .isInstanceOf(ConfigException.class).hasMessageContaining("links[0].b: 'a' is the same site");
    assertThatThrownBy(() -> Topology.of(List.of(new Site("a", 1), new Site("a", 2)), List.of()))
        .isInstanceOf(ConfigException.class).hasMessage("sites[1].name: 'a' is already a site");
    assertThatThrownBy(() -> Topology.of(List.of(new Site("a", -1)), List.of()))
        .isInstanceOf(ConfigException.class).hasMessage("sites[0].nodes: '-1' must not be negative");
  }
}
