from hypothesis import HealthCheck, given, settings
from tests.router.test_single import cases, route_and_verify

@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_a(case):
    route_and_verify(*case)

@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=cases(max_nodes=12, dense=True))
def test_b(case):
    route_and_verify(*case)
