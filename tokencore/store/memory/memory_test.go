package memory_test

import (
	"testing"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/memory"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) tokencore.Store { return memory.New() })
}
