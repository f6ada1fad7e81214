"""Loopback stand-ins for everything ticketbot talks to: the four backends' documented APIs and
Slack's Web API. Used by the tests, the benchmarks and `ticketbot sandbox` for a first run."""
