package bearer

// IntrospectionCacheLen reports how many answers v's cache holds.
func IntrospectionCacheLen(v *Verifier) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}
