"""The servers the integration, e2e and fault tiers run against: the local stand-ins of
`devstack` (the default), or the production images in containers (`DEEPFAKE_TEST_SERVERS`)."""
