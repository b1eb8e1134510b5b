//! faults: hosts, links and impairments.
