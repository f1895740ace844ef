package introspect

// WaitForStore waits until the memory tier shows every answer stored so
// far, for tests that need it to.
func (c *Cache) WaitForStore() { c.waitForStore() }
