package scopes_test

import (
	"fmt"

	"github.com/tokengate/tokengate/scopes"
)

func Example() {
	granted := scopes.Parse("gipod_pdo_read  MapRequest")

	fmt.Println(granted.Has("MapRequest"))
	fmt.Println(granted.HasAny("gipod_pdo_read", "gipod_pdo_write"))
	fmt.Println(granted.HasAll("gipod_pdo_read", "gipod_pdo_write"))
	fmt.Println(granted)
	// Output:
	// true
	// true
	// false
	// MapRequest gipod_pdo_read
}

func ExampleWildcard() {
	granted := scopes.Parse("gipod_*")

	fmt.Println(scopes.Wildcard().Match(granted, "gipod_pdo_write"))
	fmt.Println(scopes.Exact.Match(granted, "gipod_pdo_write"))
	// Output:
	// true
	// false
}

func ExampleHierarchic() {
	granted := scopes.New("gipod")

	fmt.Println(scopes.Hierarchic(".").Match(granted, "gipod.pdo.write"))
	fmt.Println(scopes.Hierarchic(".").Match(granted, "gipodx.read"))
	// Output:
	// true
	// false
}
