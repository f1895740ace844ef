package scopes_test

import (
	"fmt"

	"github.com/tokengate/tokengate/scopes"
)

func Example() {
	granted := scopes.Parse("gipod_pdo_read  MapRequest")

	fmt.Println(granted.Has("MapRequest"))
	fmt.Println(scopes.AnyOf("gipod_pdo_read", "gipod_pdo_write").SatisfiedBy(granted))
	fmt.Println(scopes.AllOf("gipod_pdo_read", "gipod_pdo_write").SatisfiedBy(granted))
	fmt.Println(granted)
	// Output:
	// true
	// true
	// false
	// MapRequest gipod_pdo_read
}

func ExampleWildcard() {
	write := scopes.AllOf("gipod_pdo_write").Matching(scopes.Wildcard())

	fmt.Println(write.SatisfiedBy(scopes.Parse("gipod_*")))
	fmt.Println(write.SatisfiedBy(scopes.Parse("gipod_org_*")))
	// Output:
	// true
	// false
}
