//! badnet: the test driver.
