console.log("octi-connectors");
